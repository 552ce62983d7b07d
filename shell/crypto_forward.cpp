// pop3d's side of crypto_module.hpp: every function of tls.hpp,
// tls_proxy.hpp, sasl_crypto.hpp, crypto_primitives.hpp and the hashing
// half of password_check.hpp, forwarded to pop3d-crypto.so, which is loaded
// at the first call. Unencoded plaintext secrets are checked here, so a
// plaintext passwd-file never loads the module. Linked into pop3d only: the
// tests link the real functions.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include "crypto_module.hpp"
#include "crypto_primitives.hpp"
#include "password_scheme.hpp"
#include "tls_proxy.hpp"

namespace pop3::shell {
namespace {

[[noreturn]] void cannot_load(const char* why)
{
    std::fprintf(stderr, "pop3d: cannot load %s: %s\n", k_crypto_module_name, why);
    std::_Exit(1);
}

const CryptoModule* load()
{
    // RTLD_NOW: a missing symbol shows here, not in the middle of a login.
    void* handle = ::dlopen(k_crypto_module_name, RTLD_NOW | RTLD_LOCAL);
    if (!handle)
        cannot_load(::dlerror());
    auto* entry = reinterpret_cast<const CryptoModule* (*)()>(
        ::dlsym(handle, k_crypto_module_symbol));
    if (!entry)
        cannot_load("no entry point (not pop3d's module?)");
    const CryptoModule* module = entry();
    if (!module || module->version != k_crypto_module_version ||
        module->size != sizeof(CryptoModule))
        cannot_load("built from another version of pop3d");
    return module;
}

const CryptoModule& module()
{
    static const CryptoModule* const loaded = load();
    return *loaded;
}

} // namespace

void preload_crypto_module() { (void)module(); }

std::string sha256(std::string_view data) { return module().sha256(data); }

void random_octets(unsigned char* out, std::size_t size)
{
    module().random_octets(out, size);
}

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
