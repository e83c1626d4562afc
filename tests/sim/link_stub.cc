// Gives each simulator program a source of its own: they are otherwise linked
// purely from the shared simulator libraries plus one core (real or canary).
namespace wq::sim {
extern const int kLinkStub;
const int kLinkStub = 1;
}  // namespace wq::sim
