# walquorum wire schema: proposer <-> acceptor (safekeeper) messages and peer
# recovery (ARCHITECTURE.md §2). Every frame payload on --listen-wal is one
# Envelope. src/codec is the only code that includes the generated header; it
# converts these to and from the plain structs in src/core/messages.h.
#
# Evolution rules: never renumber or retype a field; add fields at the end with
# the next ordinal; add union members at the end. A change old peers cannot
# read bumps core::kProtocolVersion, which every Envelope carries.
@0xe3dd345c8f741cfb;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("wq::schema");

# LSNs are PostgreSQL XLogRecPtr values (UInt64). Terms and node ids are UInt64.
# Tenant and timeline ids are Data of exactly 16 bytes.

struct TermSwitch {
  term @0 :UInt64;
  lsn @1 :UInt64;  # term_start_lsn of `term`
}

struct ProposerGreeting {
  protocolVersion @0 :UInt32;
  tenant @1 :Data;    # 16 bytes
  timeline @2 :Data;  # 16 bytes
  pgVersion @3 :UInt32;
  systemId @4 :UInt64;
  walSegSize @5 :UInt32;
  proposerId @6 :UInt64;
}

struct AcceptorGreeting {
  nodeId @0 :UInt64;
  term @1 :UInt64;
}

struct VoteRequest {
  term @0 :UInt64;
}

struct VoteResponse {
  term @0 :UInt64;
  voteGiven @1 :Bool;
  flushLsn @2 :UInt64;
  truncateLsn @3 :UInt64;
  timelineStartLsn @4 :UInt64;
  termHistory @5 :List(TermSwitch);  # cut at flushLsn
}

struct ProposerElected {
  term @0 :UInt64;
  startStreamingAt @1 :UInt64;
  termHistory @2 :List(TermSwitch);
  timelineStartLsn @3 :UInt64;
}

struct AppendRequest {
  term @0 :UInt64;
  beginLsn @1 :UInt64;
  endLsn @2 :UInt64;
  commitLsn @3 :UInt64;
  truncateLsn @4 :UInt64;
  wal @5 :Data;  # bytes [beginLsn, endLsn)
}

struct Feedback {
  learnerFlushLsn @0 :UInt64;
}

struct AppendResponse {
  term @0 :UInt64;
  flushLsn @1 :UInt64;
  commitLsn @2 :UInt64;
  feedback @3 :Feedback;
}

struct ReadWalRequest {
  term @0 :UInt64;
  fromLsn @1 :UInt64;
  toLsn @2 :UInt64;
}

struct ReadWalResponse {
  term @0 :UInt64;
  beginLsn @1 :UInt64;
  wal @2 :Data;  # bytes [beginLsn, beginLsn + size)
}

struct PeerFetchRequest {
  fromLsn @0 :UInt64;
  maxBytes @1 :UInt32;
}

struct PeerFetchResponse {
  term @0 :UInt64;
  commitLsn @1 :UInt64;
  termHistory @2 :List(TermSwitch);
  beginLsn @3 :UInt64;
  wal @4 :Data;
}

enum RefuseReason {
  staleTerm @0;
  notElected @1;
  termMismatch @2;
  historyMismatch @3;
  wrongTimeline @4;
  notServing @5;
  corrupt @6;
  noSpace @7;
}

struct Refused {
  term @0 :UInt64;
  reason @1 :RefuseReason;
  detail @2 :Text;
}

# Messages a proposer (or a peer acceptor fetching WAL) sends.
struct ProposerMessage {
  union {
    greeting @0 :ProposerGreeting;
    voteRequest @1 :VoteRequest;
    proposerElected @2 :ProposerElected;
    appendRequest @3 :AppendRequest;
    readWalRequest @4 :ReadWalRequest;
    peerFetchRequest @5 :PeerFetchRequest;
  }
}

# Messages an acceptor sends back.
struct AcceptorMessage {
  union {
    greeting @0 :AcceptorGreeting;
    voteResponse @1 :VoteResponse;
    appendResponse @2 :AppendResponse;
    readWalResponse @3 :ReadWalResponse;
    peerFetchResponse @4 :PeerFetchResponse;
    refused @5 :Refused;
  }
}

# The root of every frame payload.
struct Envelope {
  version @0 :UInt32;  # core::kProtocolVersion of the sender
  union {
    proposer @1 :ProposerMessage;
    acceptor @2 :AcceptorMessage;
  }
}
