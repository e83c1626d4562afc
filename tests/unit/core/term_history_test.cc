// TermHistory: cut_at, term_at, highest_common_point (rule 4), to_string.
#include <doctest/doctest.h>

#include "core/term_history.h"

namespace wq::core {
namespace {

TermHistory h(std::vector<std::pair<std::uint64_t, std::uint64_t>> e) {
  TermHistory t;
  for (auto [term, lsn] : e) t.push(Term{term}, Lsn{lsn});
  return t;
}

TEST_CASE("term history: last_term, push and to_string") {
  TermHistory t;
  CHECK(t.last_term() == Term{0});
  CHECK(t.to_string() == "[]");
  t.push(Term{1}, Lsn{0x100});
  t.push(Term{3}, Lsn{0x2000});
  CHECK(t.last_term() == Term{3});
  CHECK(t.to_string() == "[(1, 0/100), (3, 0/2000)]");
  t.check_invariants();
}

TEST_CASE("term history: cut_at keeps entries starting at or below the flush point") {
  TermHistory t = h({{1, 100}, {2, 300}, {4, 300}, {5, 700}});
  CHECK(t.cut_at(Lsn{50}) == TermHistory{});
  CHECK(t.cut_at(Lsn{100}) == h({{1, 100}}));
  CHECK(t.cut_at(Lsn{299}) == h({{1, 100}}));
  CHECK(t.cut_at(Lsn{300}) == h({{1, 100}, {2, 300}, {4, 300}}));
  CHECK(t.cut_at(Lsn{1000}) == t);
}

TEST_CASE("term history: term_at names the term that wrote a byte") {
  TermHistory t = h({{1, 100}, {2, 300}, {4, 300}, {5, 700}});
  CHECK(!t.term_at(Lsn{99}).has_value());
  CHECK(t.term_at(Lsn{100}) == Term{1});
  CHECK(t.term_at(Lsn{299}) == Term{1});
  CHECK(t.term_at(Lsn{300}) == Term{4});  // term 2 wrote nothing
  CHECK(t.term_at(Lsn{5000}) == Term{5});
}

TEST_CASE("common point: identical histories end at the lower flush") {
  TermHistory t = h({{1, 100}, {2, 300}});
  auto cp = TermHistory::highest_common_point(t, Lsn{500}, t, Lsn{400});
  REQUIRE(cp.has_value());
  CHECK(cp->term == Term{2});
  CHECK(cp->lsn == Lsn{400});
}

TEST_CASE("common point: empty histories share nothing") {
  TermHistory t = h({{1, 100}});
  CHECK(!TermHistory::highest_common_point(TermHistory{}, Lsn{}, t, Lsn{200}).has_value());
  CHECK(!TermHistory::highest_common_point(t, Lsn{200}, TermHistory{}, Lsn{}).has_value());
  CHECK(!TermHistory::highest_common_point(h({{2, 100}}), Lsn{200}, h({{3, 100}}), Lsn{300})
             .has_value());
}

TEST_CASE("common point: divergence after a shared term") {
  // Own: term 2 ran to its flush 900. Proposer: term 2 ended at 500, term 5 from there.
  TermHistory own = h({{1, 100}, {2, 300}});
  TermHistory prop = h({{1, 100}, {2, 300}, {5, 500}});
  auto cp = TermHistory::highest_common_point(own, Lsn{900}, prop, Lsn{~0ULL});
  REQUIRE(cp.has_value());
  CHECK(cp->term == Term{2});
  CHECK(cp->lsn == Lsn{500});
  // Own wrote term 3 (unknown to the proposer) after term 2 ended at 400.
  TermHistory own3 = h({{1, 100}, {2, 300}, {3, 400}});
  cp = TermHistory::highest_common_point(own3, Lsn{900}, prop, Lsn{~0ULL});
  REQUIRE(cp.has_value());
  CHECK(cp->term == Term{2});
  CHECK(cp->lsn == Lsn{400});
}

TEST_CASE("common point: the acceptor lags inside the proposer's own term") {
  TermHistory own = h({{1, 100}, {5, 500}});
  TermHistory prop = h({{1, 100}, {5, 500}});
  auto cp = TermHistory::highest_common_point(own, Lsn{700}, prop, Lsn{~0ULL});
  REQUIRE(cp.has_value());
  CHECK(cp->term == Term{5});
  CHECK(cp->lsn == Lsn{700});
}

TEST_CASE("common point: the acceptor is behind within an old term") {
  TermHistory own = h({{1, 100}});
  TermHistory prop = h({{1, 100}, {3, 800}});
  auto cp = TermHistory::highest_common_point(own, Lsn{250}, prop, Lsn{~0ULL});
  REQUIRE(cp.has_value());
  CHECK(cp->term == Term{1});
  CHECK(cp->lsn == Lsn{250});
  // Symmetric.
  auto back = TermHistory::highest_common_point(prop, Lsn{~0ULL}, own, Lsn{250});
  REQUIRE(back.has_value());
  CHECK(back->lsn == Lsn{250});
}

}  // namespace
}  // namespace wq::core
