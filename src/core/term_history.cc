// TermHistory operations. See term_history.h and ARCHITECTURE.md §2 rules 2–4.
#include "core/term_history.h"

#include <algorithm>

#include "base/assert.h"

namespace wq::core {

Term TermHistory::last_term() const {
  return entries_.empty() ? Term{0} : entries_.back().term;
}

void TermHistory::push(Term term, Lsn lsn) {
  WQ_ASSERT(term > last_term(), "term history push: term {} not above last term {} in {}", term,
            last_term(), to_string());
  WQ_ASSERT(entries_.empty() || lsn >= entries_.back().lsn,
            "term history push: lsn {} below last lsn {} in {}", lsn, entries_.back().lsn,
            to_string());
  entries_.push_back(TermSwitch{term, lsn});
}

TermHistory TermHistory::cut_at(Lsn flush_lsn) const {
  // Entries starting exactly at flush_lsn stay: a term switch is a zero-length
  // record that the acceptor holds once it holds everything before it.
  std::vector<TermSwitch> kept;
  for (const TermSwitch& e : entries_) {
    if (e.lsn > flush_lsn) break;
    kept.push_back(e);
  }
  return TermHistory(std::move(kept));
}

std::optional<Term> TermHistory::term_at(Lsn lsn) const {
  std::optional<Term> found;
  for (const TermSwitch& e : entries_) {
    if (e.lsn > lsn) break;
    found = e.term;
  }
  return found;
}

std::optional<TermHistory::CommonPoint> TermHistory::highest_common_point(
    const TermHistory& own, Lsn own_flush, const TermHistory& other, Lsn other_flush) {
  // Terms strictly increase in both, so walk both from the end to the highest
  // term present in each.
  const auto& a = own.entries_;
  const auto& b = other.entries_;
  std::size_t i = a.size();
  std::size_t j = b.size();
  while (i > 0 && j > 0) {
    Term ta = a[i - 1].term;
    Term tb = b[j - 1].term;
    if (ta == tb) break;
    if (ta > tb) {
      --i;
    } else {
      --j;
    }
  }
  if (i == 0 || j == 0) return std::nullopt;
  // A term's end on each side: the next entry's start, or that side's end of WAL.
  Lsn own_end = i < a.size() ? a[i].lsn : own_flush;
  Lsn other_end = j < b.size() ? b[j].lsn : other_flush;
  return CommonPoint{a[i - 1].term, std::min(own_end, other_end)};
}

std::string TermHistory::to_string() const {
  std::string out = "[";
  for (std::size_t k = 0; k < entries_.size(); ++k) {
    if (k > 0) out += ", ";
    out += fmt::format("({}, {})", entries_[k].term, entries_[k].lsn);
  }
  out += "]";
  return out;
}

void TermHistory::check_invariants() const {
  for (std::size_t k = 1; k < entries_.size(); ++k) {
    WQ_ASSERT(entries_[k].term > entries_[k - 1].term, "term history terms not increasing: {}",
              to_string());
    WQ_ASSERT(entries_[k].lsn >= entries_[k - 1].lsn, "term history lsns decreasing: {}",
              to_string());
  }
}

}  // namespace wq::core
