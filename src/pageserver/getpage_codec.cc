// Cap'n Proto encoding of GetPage@LSN. See getpage_codec.h.
#include "pageserver/getpage_codec.h"

#include <cstring>
#include <memory>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <fmt/format.h>

#include "pageserver.capnp.h"

namespace wq::pageserver {

namespace {

namespace schema = wq::schema::pageserver;
constexpr std::size_t kWordBytes = sizeof(capnp::word);

base::Unexpected malformed(std::string message) {
  return base::Unexpected{base::ErrorCode::kMalformedMessage, std::move(message)};
}

std::vector<std::uint8_t> to_bytes(capnp::MessageBuilder& builder) {
  kj::Array<capnp::word> flat = capnp::messageToFlatArray(builder);
  auto bytes = flat.asBytes();
  return std::vector<std::uint8_t>(bytes.begin(), bytes.end());
}

std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

// Runs `read` on the root of a single-message payload; all Cap'n Proto
// failures become kMalformedMessage.
template <typename Root, typename Out, typename Fn>
base::Result<Out> decode(std::span<const std::uint8_t> payload, Fn read) {
  if (payload.empty() || payload.size() % kWordBytes != 0) {
    return malformed(fmt::format("message is {} bytes, expected a positive multiple of {}",
                                 payload.size(), kWordBytes));
  }
  const std::size_t words = payload.size() / kWordBytes;
  std::unique_ptr<std::uint64_t[]> copy(new std::uint64_t[words]);
  std::memcpy(copy.get(), payload.data(), payload.size());
  const auto* begin = reinterpret_cast<const capnp::word*>(copy.get());
  try {
    capnp::ReaderOptions options;
    options.traversalLimitInWords = 4 * words + 64;
    options.nestingLimit = 8;
    capnp::FlatArrayMessageReader reader(kj::arrayPtr(begin, words), options);
    if (reader.getEnd() != begin + words) {
      return malformed(fmt::format("{} trailing bytes after the message",
                                   (begin + words - reader.getEnd()) * kWordBytes));
    }
    return read(reader.getRoot<Root>());
  } catch (const kj::Exception& e) {
    return malformed(fmt::format("invalid Cap'n Proto message: {}",
                                 one_line(e.getDescription().cStr())));
  } catch (...) {
    return malformed("invalid Cap'n Proto message: unexpected exception");
  }
}

base::Result<Id> read_id(capnp::Data::Reader d, const char* field) {
  if (d.size() != 16) return malformed(fmt::format("{}: {} bytes, expected 16", field, d.size()));
  Id id;
  std::memcpy(id.data(), d.begin(), 16);
  return id;
}

}  // namespace

std::vector<std::uint8_t> encode_request(const GetPageRequest& r) {
  try {
    capnp::MallocMessageBuilder builder(32);
    auto b = builder.initRoot<schema::GetPageRequest>();
    b.setTenant(capnp::Data::Reader(r.page.tenant.data(), 16));
    b.setTimeline(capnp::Data::Reader(r.page.timeline.data(), 16));
    b.setSpcOid(r.page.spc);
    b.setDbOid(r.page.db);
    b.setRelNode(r.page.rel);
    b.setForkNum(r.page.fork);
    b.setBlockNum(r.page.blk);
    b.setLsn(r.lsn);
    b.setVersion(r.version);
    return to_bytes(builder);
  } catch (const kj::Exception& e) {
    WQ_ASSERT(false, "Cap'n Proto failed to encode a GetPageRequest: {}",
              one_line(e.getDescription().cStr()));
  }
  return {};
}

std::vector<std::uint8_t> encode_response(const GetPageResponse& r) {
  try {
    capnp::MallocMessageBuilder builder(r.page ? 1100 : 64);
    auto b = builder.initRoot<schema::GetPageResponse>();
    if (r.page) {
      b.setPage(capnp::Data::Reader(r.page->data(), r.page->size()));
    } else {
      b.setError(capnp::Text::Reader(r.error.c_str(), r.error.size()));
    }
    b.setLsn(r.lsn);
    b.setDeltasReplayed(r.deltas_replayed);
    return to_bytes(builder);
  } catch (const kj::Exception& e) {
    WQ_ASSERT(false, "Cap'n Proto failed to encode a GetPageResponse: {}",
              one_line(e.getDescription().cStr()));
  }
  return {};
}

base::Result<GetPageRequest> decode_request(std::span<const std::uint8_t> payload) {
  return decode<schema::GetPageRequest, GetPageRequest>(
      payload, [](schema::GetPageRequest::Reader m) -> base::Result<GetPageRequest> {
        if (m.getVersion() != kGetPageVersion) {
          return malformed(fmt::format("unsupported GetPage version {}, expected {}",
                                       m.getVersion(), kGetPageVersion));
        }
        GetPageRequest r;
        auto tenant = read_id(m.getTenant(), "tenant");
        if (!tenant) return base::Unexpected{tenant.error()};
        auto timeline = read_id(m.getTimeline(), "timeline");
        if (!timeline) return base::Unexpected{timeline.error()};
        if (m.getForkNum() > 3) {
          return malformed(fmt::format("forkNum {}: expected 0..3", m.getForkNum()));
        }
        r.page = PageId{*tenant, *timeline, m.getSpcOid(), m.getDbOid(), m.getRelNode(),
                        m.getForkNum(), m.getBlockNum()};
        r.lsn = m.getLsn();
        r.version = m.getVersion();
        return r;
      });
}

base::Result<GetPageResponse> decode_response(std::span<const std::uint8_t> payload) {
  return decode<schema::GetPageResponse, GetPageResponse>(
      payload, [](schema::GetPageResponse::Reader m) -> base::Result<GetPageResponse> {
        GetPageResponse r;
        r.lsn = m.getLsn();
        r.deltas_replayed = m.getDeltasReplayed();
        if (m.isPage()) {
          auto d = m.getPage();
          if (d.size() != wal::kBlockSize) {
            return malformed(fmt::format("page: {} bytes, expected {}", d.size(), wal::kBlockSize));
          }
          wal::Page p;
          std::memcpy(p.data(), d.begin(), d.size());
          r.page = p;
        } else {
          auto t = m.getError();
          r.error.assign(t.cStr(), t.size());
        }
        return r;
      });
}

}  // namespace wq::pageserver
