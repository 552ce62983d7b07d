// One end of a SOCK_SEQPACKET socketpair between two of pop3d's processes:
// whole messages in, whole messages out, nothing else (docs/design.md).
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <initializer_list>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

#include "pop3/core/privsep_wire.hpp"
#include "unique_fd.hpp"

namespace pop3::shell {

class PrivsepChannel {
public:
    // A connected pair; both ends close on exec.
    [[nodiscard]] static tl::expected<std::pair<PrivsepChannel, PrivsepChannel>, std::string>
    pair();
    explicit PrivsepChannel(UniqueFd fd) : fd_(std::move(fd)) {}

    // False when the peer has gone. `fds` travel with the message
    // (SCM_RIGHTS): the client connection, on a plain hand-over.
    bool send(const pop3::core::privsep::Request& request, std::initializer_list<int> fds = {});
    bool send(const pop3::core::privsep::Answer& answer);
    // The next message; nullopt when the peer closed its end or broke the
    // format (`error` then says how, empty on a clean close).
    // Descriptors that came with a request go to `fds` (if given; else
    // they are closed).
    [[nodiscard]] std::optional<pop3::core::privsep::Request>
    receive_request(std::string* error, std::vector<UniqueFd>* fds = nullptr);
    [[nodiscard]] std::optional<pop3::core::privsep::Answer> receive_answer(std::string* error);

    [[nodiscard]] int fd() const { return fd_.get(); }
    void close() { fd_.reset(); }

private:
    bool send_wire(const std::string& wire, std::initializer_list<int> fds = {});
    // One datagram; nullopt on close or error (with `error` set on error).
    std::optional<std::string> receive_wire(std::string* error, std::vector<UniqueFd>* fds);
    template <class Message, class Decode>
    std::optional<Message> receive(std::string* error, std::vector<UniqueFd>* fds,
                                   Decode decode);
    UniqueFd fd_;
};

} // namespace pop3::shell
