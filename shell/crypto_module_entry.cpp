// pop3d-crypto.so's table (crypto_module.hpp): the real functions of
// tls.cpp, tls_proxy.cpp, sasl_crypto.cpp, password_check.cpp and
// crypto_primitives.cpp, which are linked into this module and nowhere in
// pop3d.
#include <openssl/ssl.h>

#include "crypto_module.hpp"
#include "crypto_primitives.hpp"
#include "tls_proxy.hpp"

namespace {

using namespace pop3::shell;

const CryptoModule k_module{
    sizeof(CryptoModule),
    &verify_password,
    &plaintext_secret,
    &verify_apop,
    &scram_credentials,
    &salt_for,
    &scram_decoy,
    &scram_password_matches,
    &verify_scram,
    &verify_cram_md5,
    &cram_password_matches,
    &cram_md5_usable,
    &sha256,
    &TlsContext::load,
    [](ssl_ctx_st* context) { SSL_CTX_free(context); },
    [](const TlsContext& context) { return context.certificate_facts(); },
    &TlsSession::accept,
    [](ssl_st* ssl) { SSL_free(ssl); },
    [](TlsSession& session, char* buffer, std::size_t size) {
        return session.read(buffer, size);
    },
    [](TlsSession& session, const char* data, std::size_t size) {
        return session.write(data, size);
    },
    [](const TlsSession& session) { return session.pending(); },
    [](TlsSession& session) { session.shutdown(); },
    [](const TlsSession& session) { return session.description(); },
    &relay_tls,
};

} // namespace

extern "C" __attribute__((visibility("default"))) const CryptoModule* POP3D_CRYPTO_ENTRY()
{
    return &k_module;
}
