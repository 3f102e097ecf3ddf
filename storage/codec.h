// msgpack codec with a version envelope: the single serialization for the
// wire (actor messages) and the disk (RocksDB values).
//
// Encoded form: a msgpack array [format_version, payload]. Decoders accept
// their own version and older ones (msgpack arrays tolerate missing trailing
// fields); a newer version is refused with an error naming both versions.
// Header-only; pure; thread-safe (no state).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <msgpack.hpp>

#include "base/status.h"

namespace vf {

inline constexpr uint32_t kFormatVersion = 1;

template <class T>
std::string encode(const T& value, uint32_t version = kFormatVersion) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(2);
  pk.pack(version);
  pk.pack(value);
  return std::string(buf.data(), buf.size());
}

template <class T>
Expected<T> decode(std::string_view bytes, std::string_view what = "value") {
  try {
    msgpack::object_handle oh = msgpack::unpack(bytes.data(), bytes.size());
    const msgpack::object& o = oh.get();
    if (o.type != msgpack::type::ARRAY || o.via.array.size != 2)
      return Error{std::string(what) + ": not a versioned msgpack envelope"};
    uint32_t version = o.via.array.ptr[0].as<uint32_t>();
    if (version > kFormatVersion)
      return Error{std::string(what) + ": format version " + std::to_string(version) +
                   " is newer than this build's " + std::to_string(kFormatVersion)};
    T value;
    o.via.array.ptr[1].convert(value);
    return value;
  } catch (const std::exception& e) {
    return Error{std::string(what) + ": cannot decode: " + e.what()};
  }
}

}  // namespace vf
