// The cluster token's proof: a peer shows it holds the shared token by
// answering a fresh random challenge with HMAC-SHA256(token, purpose|nonce),
// so the token itself never crosses the network and an answer cannot be
// replayed for another challenge.
//
// Pure functions over OpenSSL's HMAC and RAND_bytes; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace vf {

// 32 random bytes as 64 hex digits (OpenSSL's CSPRNG).
std::string random_nonce();

// hex(HMAC-SHA256(token, purpose + "|" + nonce)).
std::string token_mac(std::string_view token, std::string_view purpose, std::string_view nonce);

// Compares in time independent of where the strings differ.
bool equal_in_constant_time(std::string_view a, std::string_view b);

}  // namespace vf
