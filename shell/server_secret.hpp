// The server secret: random octets in a file only pop3d's starting user can
// read. They key the SCRAM salts of users without a stored salt (plaintext
// secrets and decoys), so that those salts outlast passwd-file edits and
// cannot be computed by anyone who lacks the file.
#pragma once
#include <string>

#include <tl/expected.hpp>

namespace pop3::shell {

inline constexpr std::size_t k_server_secret_size = 32; // what --make-server-secret writes
inline constexpr std::size_t k_min_server_secret_size = 16;
inline constexpr std::size_t k_max_server_secret_size = 4096;

// The file's octets, 16 to 4096 of them; the error says what is wrong
// ("No such file or directory", "too short: 3 octets, at least 16", ...).
[[nodiscard]] tl::expected<std::string, std::string>
read_server_secret(const std::string& path);

// `pop3d --make-server-secret FILE`: creates FILE with 32 random octets,
// mode 0600, owned by the caller. An existing FILE (or symlink) is never
// overwritten: that would change every derived salt.
[[nodiscard]] tl::expected<void, std::string>
make_server_secret(const std::string& path);

} // namespace pop3::shell
