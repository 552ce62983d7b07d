// One line per event on standard error, prefixed "pop3d[pid]: ". Never a
// password: callers pass only redacted text.
#pragma once
#include <string_view>

namespace pop3::shell {

class Log {
public:
    // `fd` is where lines go: standard error, or a file a test reads back.
    explicit Log(int fd = 2);
    void line(std::string_view text) const;

private:
    int fd_;
    char prefix_[32];
    std::size_t prefix_len_;
};

} // namespace pop3::shell
