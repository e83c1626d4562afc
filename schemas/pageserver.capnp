# GetPage@LSN service of the pageserver (ARCHITECTURE.md §4): one request or
# response per frame (codec/frame.h framing) on --listen-page; the codec is
# src/pageserver/getpage_codec.cc. Same evolution rules as walquorum.capnp.
@0xda8e1c87cbc2b571;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("wq::schema::pageserver");

struct GetPageRequest {
  tenant @0 :Data;    # 16 bytes
  timeline @1 :Data;  # 16 bytes
  spcOid @2 :UInt32;  # tablespace
  dbOid @3 :UInt32;   # database
  relNode @4 :UInt32; # relfilenode
  forkNum @5 :UInt8;  # main 0, fsm 1, vm 2, init 3
  blockNum @6 :UInt32;
  lsn @7 :UInt64;     # read the page as of this LSN; waits until ingest reaches it
  version @8 :UInt32; # protocol version of the requester
}

struct GetPageResponse {
  union {
    page @0 :Data;    # 8192 bytes
    error @1 :Text;   # one line: what was wrong
  }
  lsn @2 :UInt64;     # the LSN the page was reconstructed at
  deltasReplayed @3 :UInt32;  # deltas applied on top of the base image for this read
}
