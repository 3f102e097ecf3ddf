#include "dataflow/checkpoint.h"

#include "storage/codec.h"

namespace vf {

Expected<Recovery> recover(const JobStore& store) {
  Recovery r;
  auto w = store.get_meta(meta::kWriter);
  if (!w) return Error{w.error()};
  if (w.value()) {
    auto decoded = decode<WriterCheckpoint>(*w.value(), "writer checkpoint (m/writer)");
    if (!decoded) return Error{"job store " + store.path() + ": " + decoded.error()};
    r.writer = std::move(decoded.value());
    r.fresh = false;
  }
  auto g = store.get_meta(meta::kGenerator);
  if (!g) return Error{g.error()};
  if (g.value()) {
    auto decoded = decode<GeneratorCheckpoint>(*g.value(), "generator checkpoint (m/generator)");
    if (!decoded) return Error{"job store " + store.path() + ": " + decoded.error()};
    r.generator = decoded.value();
    r.fresh = false;
  }
  // Every id below the gate's watermark is decided: in-flight records start there.
  uint64_t from = r.writer ? r.writer->gate.low_watermark : 0;
  auto s = store.for_each_item(from, [&](uint64_t id, std::string_view bytes) -> Status {
    auto item = decode<Item>(bytes, "logged item");
    if (!item) return Error{"job store " + store.path() + ": item " + std::to_string(id) + ": " + item.error()};
    if (item->id != id)
      return Error{"job store " + store.path() + ": item record i/" + std::to_string(id) + " holds item " +
                   std::to_string(item->id)};
    r.in_flight.push_back(std::move(item.value()));
    return {};
  });
  if (!s) return Error{s.error()};
  if (!r.in_flight.empty()) r.fresh = false;
  return r;
}

Expected<LogCounts> count_log(const JobStore& store, bool scan_decided) {
  LogCounts c;
  if (scan_decided) {
    auto s = store.for_each_state([&](uint64_t, const StoredState& st) -> Status {
      ++c.decided[std::string(to_string(static_cast<ItemState>(st.state)))];
      return {};
    });
    if (!s) return Error{s.error()};
  }
  auto s = store.for_each_item(0, [&](uint64_t id, std::string_view bytes) -> Status {
    auto item = decode<Item>(bytes, "logged item");
    if (!item) return Error{"job store " + store.path() + ": item " + std::to_string(id) + ": " + item.error()};
    ++c.in_flight[std::string(to_string(item->item_state()))];
    return {};
  });
  if (!s) return Error{s.error()};
  s = store.for_each_parked([&](uint64_t, std::string_view) -> Status {
    ++c.parked;
    return {};
  });
  if (!s) return Error{s.error()};
  return c;
}

}  // namespace vf
