// Overloaded{lambdas...}: one visitor out of several lambdas, for std::visit over
// the protocol's message and action variants. Pure.
#pragma once

namespace wq::base {

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

}  // namespace wq::base
