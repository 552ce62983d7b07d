// The narrow interface between pop3d and pop3d-crypto.so, the shared object
// that holds everything needing OpenSSL, libxcrypt or libargon2 (tls.hpp,
// tls_proxy.hpp, sasl_crypto.hpp, password_check.hpp's hashing,
// crypto_primitives.hpp). pop3d links none of those libraries: loading them
// was most of a session's start-up (docs/performance.md), and a plaintext
// session without a certificate never needs them. pop3d loads the module
// with dlopen at the first call (crypto_forward.cpp), or before a jail with
// load_crypto_module(), from POP3D_CRYPTO_MODULE_FROM_EXE (a path relative
// to pop3d's own executable, set by shell/CMakeLists.txt). Both sides are
// built from one tree together, so the table passes C++ types; the entry
// point's name (POP3D_CRYPTO_ENTRY) carries a hash of the version and these
// headers, so a stale module has no such symbol and is refused.
#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "password_check.hpp"
#include "pop3/core/passwd_line.hpp"
#include "pop3/core/sasl.hpp"
#include "sasl_crypto.hpp"
#include "tls.hpp"

namespace pop3::shell {

struct CryptoModule {
    std::size_t size; // sizeof(CryptoModule) where it was built

    // password_check.hpp
    Verdict (*verify_password)(const pop3::core::PasswdEntry&, std::string_view);
    std::optional<std::string> (*plaintext_secret)(const pop3::core::PasswdEntry&);
    bool (*verify_apop)(const pop3::core::PasswdEntry&, std::string_view, std::string_view);

    // sasl_crypto.hpp
    std::optional<pop3::core::ScramCredentials> (*scram_credentials)(
        pop3::core::Mechanism, const pop3::core::PasswdEntry&, std::string_view);
    std::string (*salt_for)(std::string_view, pop3::core::Mechanism, std::string_view);
    pop3::core::ScramCredentials (*scram_decoy)(pop3::core::Mechanism, std::string_view,
                                                std::string_view);
    std::optional<bool> (*scram_password_matches)(const pop3::core::PasswdEntry&,
                                                  std::string_view);
    ScramCheck (*verify_scram)(pop3::core::Mechanism, const pop3::core::ScramCredentials&,
                               std::string_view, std::string_view);
    bool (*verify_cram_md5)(const pop3::core::PasswdEntry&, std::string_view,
                            std::string_view);
    std::optional<bool> (*cram_password_matches)(const pop3::core::PasswdEntry&,
                                                 std::string_view);
    bool (*cram_md5_usable)(const pop3::core::PasswdEntry&);

    // crypto_primitives.hpp
    std::string (*sha256)(std::string_view);

    // tls.hpp and tls_proxy.hpp
    tl::expected<TlsContext, std::string> (*tls_load)(const std::string&, const std::string&);
    void (*tls_context_free)(ssl_ctx_st*);
    CertificateFacts (*tls_certificate_facts)(const TlsContext&);
    tl::expected<std::unique_ptr<TlsSession>, std::string> (*tls_accept)(
        const TlsContext&, int, int, int);
    void (*tls_session_free)(ssl_st*);
    TlsSession::Io (*tls_read)(TlsSession&, char*, std::size_t);
    TlsSession::Io (*tls_write)(TlsSession&, const char*, std::size_t);
    bool (*tls_pending)(const TlsSession&);
    void (*tls_shutdown)(TlsSession&);
    std::string (*tls_description)(const TlsSession&);
    void (*relay_tls)(TlsSession&, int, int, int, int);
};

} // namespace pop3::shell

// The module's one exported symbol, pop3d_crypto_module_<hash>.
extern "C" const pop3::shell::CryptoModule* POP3D_CRYPTO_ENTRY();
