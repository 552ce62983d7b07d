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

namespace {
constexpr std::size_t k_max_fds = 2; // a hand-over's input and output
}

bool PrivsepChannel::send_wire(const std::string& wire, std::initializer_list<int> fds) {
    if (fds.size() > k_max_fds) return false;
    iovec iov{const_cast<char*>(wire.data()), wire.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * k_max_fds)] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (fds.size() > 0) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* header = CMSG_FIRSTHDR(&msg);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(header), fds.begin(), sizeof(int) * fds.size());
    }
    for (int attempt = 0; attempt < 100; ++attempt) {
        auto n = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
        if (n == static_cast<ssize_t>(wire.size())) return true;
        if (n < 0 && errno == EINTR) continue;
        return false;
    }
    return false;
}

bool PrivsepChannel::send(const privsep::Request& request, std::initializer_list<int> fds) {
    return send_wire(privsep::encode(request), fds);
}
bool PrivsepChannel::send(const privsep::Answer& answer) {
    return send_wire(privsep::encode(answer));
}

std::optional<std::string> PrivsepChannel::receive_wire(std::string* error,
                                                        std::vector<UniqueFd>* fds) {
    std::string buffer(pop3::core::k_max_privsep_message + 1, '\0');
    for (int attempt = 0; attempt < 100; ++attempt) {
        iovec iov{buffer.data(), buffer.size()};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * k_max_fds)] = {};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        auto n = ::recvmsg(fd_.get(), &msg, MSG_TRUNC | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) continue;
        // Every descriptor that arrived is owned at once, so none leaks
        // whatever else is wrong with the message.
        std::vector<UniqueFd> received;
        for (cmsghdr* h = n >= 0 ? CMSG_FIRSTHDR(&msg) : nullptr; h != nullptr;
             h = CMSG_NXTHDR(&msg, h)) {
            if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
            std::size_t count = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (std::size_t i = 0; i < count; ++i) {
                int fd = -1;
                std::memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof fd);
                received.emplace_back(fd);
            }
        }
        if (n >= 0 && (msg.msg_flags & MSG_CTRUNC) != 0) {
            if (error) *error = "too many descriptors with a message";
            return std::nullopt;
        }
        if (fds) *fds = std::move(received);
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

// One datagram through `decode` (decode_request or decode_answer); a
// format error is reported like a broken channel.
template <class Message, class Decode>
std::optional<Message> PrivsepChannel::receive(std::string* error, std::vector<UniqueFd>* fds,
                                               Decode decode) {
    auto wire = receive_wire(error, fds);
    if (!wire) return std::nullopt;
    auto message = decode(*wire);
    if (!message) {
        if (error) *error = message.error();
        return std::nullopt;
    }
    return std::move(*message);
}

std::optional<privsep::Request> PrivsepChannel::receive_request(std::string* error,
                                                               std::vector<UniqueFd>* fds) {
    return receive<privsep::Request>(error, fds, privsep::decode_request);
}

std::optional<privsep::Answer> PrivsepChannel::receive_answer(std::string* error) {
    // An answer never carries a descriptor.
    return receive<privsep::Answer>(error, nullptr, privsep::decode_answer);
}

} // namespace pop3::shell
