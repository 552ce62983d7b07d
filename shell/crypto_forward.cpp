// pop3d's side of crypto_module.hpp: every function of tls.hpp,
// tls_proxy.hpp, sasl_crypto.hpp, crypto_primitives.hpp and the hashing
// half of password_check.hpp, forwarded to pop3d-crypto.so, which is loaded
// at the first call. Unencoded plaintext secrets are checked here, so a
// plaintext passwd-file never loads the module. Linked into pop3d only: the
// tests link the real functions.
#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "crypto_module.hpp"
#include "crypto_primitives.hpp"
#include "password_scheme.hpp"
#include "tls_proxy.hpp"

#define POP3D_STRINGIFY_(x) #x
#define POP3D_STRINGIFY(x) POP3D_STRINGIFY_(x)

namespace pop3::shell {
namespace {

// The module's absolute path: next to this executable's real path, as the
// build and the installation lay them out (shell/CMakeLists.txt). Never a
// search: no RUNPATH, no environment, nothing relative to the working
// directory (the mailstore root).
tl::expected<std::string, std::string> module_path()
{
    char exe[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0 || exe[0] != '/')
        return tl::unexpected(std::string(
            "cannot load pop3d-crypto.so: cannot read /proc/self/exe (is /proc mounted?)"));
    std::string path(exe, static_cast<std::size_t>(n));
    path.erase(path.rfind('/') + 1);
    return path + POP3D_CRYPTO_MODULE_FROM_EXE;
}

tl::expected<const CryptoModule*, std::string> load()
{
    auto path = module_path();
    if (!path) return tl::unexpected(path.error());
    auto fail = [&](const std::string& why) {
        return tl::unexpected("cannot load " + *path + ": " + why);
    };
    // RTLD_NOW: a missing symbol shows here, not in the middle of a login.
    void* handle = ::dlopen(path->c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char* why = ::dlerror();
        return fail(std::string(why ? why : "dlopen failed") +
                    " (pop3d needs it for TLS and hashed secrets)");
    }
    auto* entry = reinterpret_cast<const CryptoModule* (*)()>(
        ::dlsym(handle, POP3D_STRINGIFY(POP3D_CRYPTO_ENTRY)));
    if (!entry) return fail("built from another version of pop3d (no matching entry point)");
    const CryptoModule* module = entry();
    if (!module || module->size != sizeof(CryptoModule))
        return fail("built from another version of pop3d");
    return module;
}

const tl::expected<const CryptoModule*, std::string>& loaded()
{
    static const auto result = load();
    return result;
}

// Callers check load_crypto_module() first (Authenticator, TlsContext::load):
// reaching here without a module is a bug, not an installation error.
const CryptoModule& module()
{
    const auto& result = loaded();
    if (!result) {
        std::fprintf(stderr, "pop3d: %s\n", result.error().c_str());
        std::abort();
    }
    return **result;
}

} // namespace

tl::expected<void, std::string> load_crypto_module()
{
    const auto& result = loaded();
    if (!result) return tl::unexpected(result.error());
    return {};
}

std::string sha256(std::string_view data) { return module().sha256(data); }

Verdict verify_password(const pop3::core::PasswdEntry& entry, std::string_view password)
{
    if (!verifiable_without_crypto(entry.scheme))
        return module().verify_password(entry, password);
    // password_check.cpp's rules for this case, without the module.
    if (entry.secret.empty() || password.empty())
        return Verdict::mismatch;
    return plaintext_equal(entry.secret, password) ? Verdict::match : Verdict::mismatch;
}

std::optional<std::string> plaintext_secret(const pop3::core::PasswdEntry& entry)
{
    return module().plaintext_secret(entry);
}

bool verify_apop(const pop3::core::PasswdEntry& entry, std::string_view banner,
                 std::string_view digest_hex)
{
    return module().verify_apop(entry, banner, digest_hex);
}

std::optional<pop3::core::ScramCredentials>
scram_credentials(pop3::core::Mechanism mechanism, const pop3::core::PasswdEntry& entry,
                  std::string_view salt_key)
{
    return module().scram_credentials(mechanism, entry, salt_key);
}

std::string salt_for(std::string_view salt_key, pop3::core::Mechanism mechanism,
                     std::string_view login)
{
    return module().salt_for(salt_key, mechanism, login);
}

pop3::core::ScramCredentials scram_decoy(pop3::core::Mechanism mechanism,
                                         std::string_view login, std::string_view salt_key)
{
    return module().scram_decoy(mechanism, login, salt_key);
}

std::optional<bool> scram_password_matches(const pop3::core::PasswdEntry& entry,
                                           std::string_view password)
{
    return module().scram_password_matches(entry, password);
}

ScramCheck verify_scram(pop3::core::Mechanism mechanism,
                        const pop3::core::ScramCredentials& keys,
                        std::string_view auth_message, std::string_view proof)
{
    return module().verify_scram(mechanism, keys, auth_message, proof);
}

bool verify_cram_md5(const pop3::core::PasswdEntry& entry, std::string_view challenge,
                     std::string_view digest_hex)
{
    return module().verify_cram_md5(entry, challenge, digest_hex);
}

std::optional<bool> cram_password_matches(const pop3::core::PasswdEntry& entry,
                                          std::string_view password)
{
    return module().cram_password_matches(entry, password);
}

bool cram_md5_usable(const pop3::core::PasswdEntry& entry)
{
    return module().cram_md5_usable(entry);
}

tl::expected<TlsContext, std::string> TlsContext::load(const std::string& cert_file,
                                                       const std::string& key_file)
{
    if (auto ready = load_crypto_module(); !ready) return tl::unexpected(ready.error());
    return module().tls_load(cert_file, key_file);
}

void TlsContext::Free::operator()(ssl_ctx_st* c) const { module().tls_context_free(c); }

CertificateFacts TlsContext::certificate_facts() const
{
    return module().tls_certificate_facts(*this);
}

tl::expected<std::unique_ptr<TlsSession>, std::string>
TlsSession::accept(const TlsContext& context, int in_fd, int out_fd, int timeout_ms)
{
    return module().tls_accept(context, in_fd, out_fd, timeout_ms);
}

TlsSession::~TlsSession() { module().tls_session_free(ssl_); }

TlsSession::Io TlsSession::read(char* buffer, std::size_t size)
{
    return module().tls_read(*this, buffer, size);
}

TlsSession::Io TlsSession::write(const char* data, std::size_t size)
{
    return module().tls_write(*this, data, size);
}

bool TlsSession::pending() const { return module().tls_pending(*this); }

void TlsSession::shutdown() { module().tls_shutdown(*this); }

std::string TlsSession::description() const { return module().tls_description(*this); }

void relay_tls(TlsSession& tls, int client_in_fd, int client_out_fd, int plain_fd,
               int write_timeout_ms)
{
    module().relay_tls(tls, client_in_fd, client_out_fd, plain_fd, write_timeout_ms);
}

} // namespace pop3::shell
