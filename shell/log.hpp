// One line per event on standard error, prefixed "pop3d[pid]: ". Never a
// password: callers pass only redacted text.
#pragma once
#include <string_view>

namespace pop3::shell {

class Log {
public:
    Log();
    void line(std::string_view text) const;

private:
    char prefix_[32];
    std::size_t prefix_len_;
};

} // namespace pop3::shell
