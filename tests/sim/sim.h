// The deterministic simulator (tests/sim/README.md): one thread runs the real
// core::Acceptor and core::Proposer objects of a whole cluster over a simulated
// network and simulated disks, in virtual time, with every random choice drawn
// from one seeded Prng. After every step it checks the invariants numbered in
// invariants.h against an oracle history the nodes never see.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/acceptor.h"
#include "core/proposer.h"
#include "disk.h"
#include "invariants.h"
#include "prng.h"
#include "wal_model.h"
#include "wire.h"

namespace wq::sim {

// Probabilities and rates of every fault; a swarm seed draws its own mix.
struct FaultMix {
  double drop = 0;               // a message is lost (and its connection dies, as TCP would)
  double dup = 0;                // datagram mode only: a message is delivered twice
  std::uint32_t delay_min_ms = 1;
  std::uint32_t delay_max_ms = 5;
  double delay_tail = 0;         // chance of a 10-50x longer delay (reorders across links)
  double conn_reset_per_s = 0;   // random connection resets
  double partition_per_s = 0;    // new partitions (symmetric or one-way)
  double one_way = 0.5;          // share of partitions that are one-way
  std::uint32_t partition_ms_max = 3000;
  double acceptor_crash_per_s = 0;
  double crash_mid_actions = 0;  // chance to crash before each action of a handler's list
  double keep_unsynced = 0.5;    // on crash, chance that some unsynced bytes survive (maybe torn)
  std::uint32_t restart_ms_max = 2000;
  double proposer_restart_per_s = 0;
  double keep_old_proposer = 0.5;  // the old compute keeps running beside the new one
  double reuse_proposer_id = 0.3;
  std::uint32_t flush_delay_max_ms = 5;
  std::uint32_t propose_every_ms = 20;
  double learner_per_s = 5;
  // Peer recovery: a random acceptor fetches committed WAL from a random peer
  // (PeerFetchRequest → PeerFetchResponse, delayed like any message).
  double peer_fetch_per_s = 0;

  static FaultMix none();
  static FaultMix draw(Prng& prng, bool datagram = false);
  std::string to_string() const;
};

struct SimConfig {
  std::uint64_t seed = 1;
  int acceptors = 3;
  bool trace = false;            // print every event as it happens
  std::uint64_t fault_ms = 60'000;     // virtual time with faults (swarm: drawn in [1/4, 1] of it)
  std::uint64_t liveness_ms = 30'000;  // budget after healing (S20)
  std::uint64_t wal_bytes_max = 256 * 1024;  // workload stops proposing after this much
  std::uint64_t steps_max = 2'000'000;
  std::optional<FaultMix> mix;   // scenario-fixed mix; else drawn from the seed
  bool swarm = true;             // random faults and workload; false: scripted scenario
  // Outside the core's contract (connections are FIFO and never duplicate):
  // also deliver some messages twice, or out of order, on one connection.
  bool datagram = false;
  int trace_tail = 60;
};

enum class FaultKind {
  kDrop,
  kConnReset,
  kPartition,
  kOneWayPartition,
  kAcceptorCrash,
  kCrashMidActions,
  kTornWrite,
  kProposerRestart,
  kTwoProposers,
  kDuplicate,
  kReorder,
  kPeerFetch,  // a peer-recovery reply appended committed WAL
  kPeerTruncate,  // a peer-recovery reply cut a divergent tail
  kCount
};
const char* fault_kind_name(FaultKind k);

struct SimResult {
  std::uint64_t seed = 0;
  std::optional<Violation> violation;
  std::uint64_t steps = 0;
  std::uint64_t virtual_ms = 0;
  std::uint64_t state_hash = 0;
  std::uint64_t committed_bytes = 0;
  std::uint64_t elections = 0;
  std::array<std::uint64_t, static_cast<int>(FaultKind::kCount)> faults{};
  std::string mix;
};

class Sim {
 public:
  explicit Sim(SimConfig config);
  ~Sim();
  Sim(const Sim&) = delete;
  Sim& operator=(const Sim&) = delete;

  // Swarm: faults, healing, the liveness phase; stops at the first violation.
  SimResult run();

  // --- Scripted scenarios (config.swarm = false): drive the cluster by hand. ---
  int start_proposer(std::optional<core::NodeId> reuse_id = {});  // returns its slot
  void kill_proposer(int slot);
  void crash_acceptor(int a);
  void restart_acceptor(int a);
  // Blocks p→a (dir 0) or a→p (dir 1) for proposer slot p (-1: every proposer).
  void block(int p, int a, int dir);
  void heal();
  // Crash acceptor `a` right before it executes an action matching `pred`.
  void crash_before(int a, std::function<bool(const core::Action&)> pred);
  // Runs until `pred` holds or `ms` of virtual time pass; false on timeout or violation.
  bool run_until(const std::function<bool()>& pred, std::uint64_t ms);
  void run_for(std::uint64_t ms);
  void propose_records(int slot, int records);  // one batch, if elected
  // Acceptor `a` sends PeerFetchRequest{write_lsn} to acceptor `peer`; the reply
  // arrives after a network delay (and a successful one asks again).
  void peer_fetch(int a, int peer);

  const core::Proposer* proposer(int slot) const;
  const core::Acceptor* acceptor(int a) const;
  const SimDisk& disk(int a) const;
  Lsn committed_end() const;
  const std::optional<Violation>& violation() const;
  std::uint64_t now_ms() const;
  std::string trace_tail() const;
  SimResult result() const;

  // Implementation (sim.cc).
  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Runs one seed with the swarm configuration.
SimResult run_seed(std::uint64_t seed, int acceptors, bool trace, bool datagram = false);

}  // namespace wq::sim
