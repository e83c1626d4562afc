// TermHistory: the list of (term, start LSN) switches that says which term wrote
// each byte of a timeline's WAL. Used by votes, ProposerElected and truncation
// (ARCHITECTURE.md §2 rules 2–4). Pure.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/types.h"

namespace wq::core {

// Term `term` wrote WAL starting at `lsn` (its term_start_lsn), up to the next entry's lsn.
struct TermSwitch {
  Term term;
  Lsn lsn;
  auto operator<=>(const TermSwitch&) const = default;
};

// Invariant: terms strictly increase; LSNs never decrease.
class TermHistory {
 public:
  TermHistory() = default;
  explicit TermHistory(std::vector<TermSwitch> entries) : entries_(std::move(entries)) {}

  const std::vector<TermSwitch>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }
  bool operator==(const TermHistory&) const = default;

  // Term of the last entry, or Term{0} if empty.
  Term last_term() const;
  // Append (term, lsn). Asserts term > last_term() and lsn >= the last lsn.
  void push(Term term, Lsn lsn);
  // The history as it describes WAL up to `flush_lsn`: drops entries starting
  // after flush_lsn (rule 2: vote replies carry the history cut at flush_lsn).
  TermHistory cut_at(Lsn flush_lsn) const;
  // Term that wrote the byte at `lsn` (the last entry whose lsn <= lsn), if any.
  std::optional<Term> term_at(Lsn lsn) const;

  // Highest common point of two histories whose WAL ends at `own_flush` and
  // `other_flush` (rule 4): the last term both have and the LSN where they diverge.
  // Returns nullopt when they share no term at all.
  struct CommonPoint {
    Term term;
    Lsn lsn;
  };
  static std::optional<CommonPoint> highest_common_point(const TermHistory& own, Lsn own_flush,
                                                         const TermHistory& other,
                                                         Lsn other_flush);

  std::string to_string() const;  // "[(1, 0/100), (3, 0/2000)]"
  void check_invariants() const;

 private:
  std::vector<TermSwitch> entries_;
};

}  // namespace wq::core
