// Checks USER/PASS and APOP credentials against the shared passwd-file and
// turns the verdict into the core's AuthResult, with a uniform failure delay.
#pragma once
#include <string>
#include <string_view>

#include "log.hpp"
#include "options.hpp"
#include "pop3/core/effect.hpp"

namespace pop3::shell {

class Authenticator {
public:
    Authenticator(const Options& options, const Log& log, std::string apop_banner)
        : options_(options), log_(log), banner_(std::move(apop_banner)) {}

    // RFC 1939 section 7 USER/PASS. Failures (unknown user, wrong password,
    // invalid name) all answer `rejected` after the same total delay.
    [[nodiscard]] pop3::core::AuthResult check_password(std::string_view user,
                                                        std::string_view secret);
    // RFC 1939 section 7 APOP, for users with a PLAIN/CLEAR secret.
    [[nodiscard]] pop3::core::AuthResult check_apop(std::string_view user,
                                                    std::string_view digest);

private:
    template <class Verify>
    pop3::core::AuthResult check(std::string_view user, std::string_view method,
                                 Verify verify);

    const Options& options_;
    const Log& log_;
    std::string banner_;
};

} // namespace pop3::shell
