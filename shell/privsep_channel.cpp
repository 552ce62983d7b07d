// Datagrams over a socketpair. SOCK_SEQPACKET keeps message boundaries, so
// a message is one send(2) and one recv(2); MSG_TRUNC reveals an oversized
// one, which is refused rather than read in parts.
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "pop3/core/limits.hpp"
#include "privsep_channel.hpp"

namespace pop3::shell {

namespace privsep = pop3::core::privsep;

tl::expected<std::pair<PrivsepChannel, PrivsepChannel>, std::string> PrivsepChannel::pair() {
    int fds[2] = {-1, -1};
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
        return tl::unexpected(std::string("socketpair: ") + std::strerror(errno));
    return std::make_pair(PrivsepChannel(UniqueFd(fds[0])), PrivsepChannel(UniqueFd(fds[1])));
}

bool PrivsepChannel::send_wire(const std::string& wire) {
    for (int attempt = 0; attempt < 100; ++attempt) {
        auto n = ::send(fd_.get(), wire.data(), wire.size(), MSG_NOSIGNAL);
        if (n == static_cast<ssize_t>(wire.size())) return true;
        if (n < 0 && errno == EINTR) continue;
        return false;
    }
    return false;
}

bool PrivsepChannel::send(const privsep::Request& request) {
    return send_wire(privsep::encode(request));
}
bool PrivsepChannel::send(const privsep::Answer& answer) {
    return send_wire(privsep::encode(answer));
}

std::optional<std::string> PrivsepChannel::receive_wire(std::string* error) {
    std::string buffer(pop3::core::k_max_privsep_message + 1, '\0');
    for (int attempt = 0; attempt < 100; ++attempt) {
        auto n = ::recv(fd_.get(), buffer.data(), buffer.size(), MSG_TRUNC);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            if (error) *error = std::string("recv: ") + std::strerror(errno);
            return std::nullopt;
        }
        if (n == 0) return std::nullopt; // the peer closed its end
        if (static_cast<std::size_t>(n) > pop3::core::k_max_privsep_message) {
            if (error) *error = "message of " + std::to_string(n) + " octets refused";
            return std::nullopt;
        }
        buffer.resize(static_cast<std::size_t>(n));
        return buffer;
    }
    if (error) *error = "recv interrupted too often";
    return std::nullopt;
}

std::optional<privsep::Request> PrivsepChannel::receive_request(std::string* error) {
    auto wire = receive_wire(error);
    if (!wire) return std::nullopt;
    auto request = privsep::decode_request(*wire);
    if (!request) {
        if (error) *error = request.error();
        return std::nullopt;
    }
    return std::move(*request);
}

std::optional<privsep::Answer> PrivsepChannel::receive_answer(std::string* error) {
    auto wire = receive_wire(error);
    if (!wire) return std::nullopt;
    auto answer = privsep::decode_answer(*wire);
    if (!answer) {
        if (error) *error = answer.error();
        return std::nullopt;
    }
    return std::move(*answer);
}

} // namespace pop3::shell
