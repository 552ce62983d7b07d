// OpenSSL glue. Initialised lazily: only sessions that use TLS pay for it.
#include <fcntl.h>
#include <poll.h>

#include <chrono>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls.hpp"

namespace pop3::shell {
namespace {

std::string openssl_error(const std::string& what) {
    unsigned long code = ERR_get_error();
    if (code == 0) return what;
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    ERR_clear_error();
    return what + ": " + text;
}

void set_nonblocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

std::string asn1_time_text(const ASN1_TIME* when) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (bio == nullptr) return "?";
    ASN1_TIME_print(bio, when);
    char* data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    std::string text(data, static_cast<std::size_t>(size > 0 ? size : 0));
    BIO_free(bio);
    return text;
}

std::string validity_warning(X509* cert, const std::string& file) {
    if (cert == nullptr) return {};
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
        return "TLS certificate " + file + " expired on " +
               asn1_time_text(X509_get0_notAfter(cert)) + "; clients will refuse it";
    if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
        return "TLS certificate " + file + " is not valid before " +
               asn1_time_text(X509_get0_notBefore(cert)) + "; clients will refuse it";
    return {};
}

} // namespace

void TlsContext::Free::operator()(ssl_ctx_st* c) const { SSL_CTX_free(c); }

tl::expected<TlsContext, std::string>
TlsContext::load(const std::string& cert_file, const std::string& key_file) {
    TlsContext context;
    context.ctx_.reset(SSL_CTX_new(TLS_server_method()));
    SSL_CTX* ctx = context.ctx_.get();
    if (!ctx) return tl::unexpected(openssl_error("cannot create TLS context"));
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
    // SSL_OP_NO_TICKET covers TLS 1.2 only; TLS 1.3 would still send
    // NewSessionTicket messages (stateful ones). A session is one process,
    // so nothing could be resumed: send none.
    SSL_CTX_set_num_tickets(ctx, 0);
    // TLS 1.2: forward secrecy and AEAD only (TLS 1.3 suites are all AEAD).
    if (SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20") != 1)
        return tl::unexpected(openssl_error("cannot set TLS ciphers"));
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1)
        return tl::unexpected(openssl_error("cannot load TLS certificate " + cert_file));
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1)
        return tl::unexpected(openssl_error("cannot load TLS key " + key_file));
    if (SSL_CTX_check_private_key(ctx) != 1)
        return tl::unexpected(openssl_error("TLS key does not match the certificate"));
    context.warning_ = validity_warning(SSL_CTX_get0_certificate(ctx), cert_file);
    return context;
}

CertificateFacts TlsContext::certificate_facts() const {
    CertificateFacts facts;
    X509* cert = SSL_CTX_get0_certificate(ctx_.get());
    if (cert == nullptr) return facts;
    char subject[512] = "";
    X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
    facts.subject = subject;
    auto* names = static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
        if (name->type != GEN_DNS) continue;
        const ASN1_IA5STRING* dns = name->d.dNSName;
        facts.names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                 static_cast<std::size_t>(ASN1_STRING_length(dns)));
    }
    GENERAL_NAMES_free(names);
    facts.not_before = asn1_time_text(X509_get0_notBefore(cert));
    facts.not_after = asn1_time_text(X509_get0_notAfter(cert));
    int days = 0, seconds = 0;
    if (ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(cert)) == 1)
        facts.days_left = days;
    return facts;
}

tl::expected<std::unique_ptr<TlsSession>, std::string>
TlsSession::accept(const TlsContext& context, int in_fd, int out_fd, int timeout_ms) {
    SSL* ssl = SSL_new(context.get());
    if (!ssl) return tl::unexpected(openssl_error("cannot create TLS session"));
    std::unique_ptr<TlsSession> session(new TlsSession(ssl));
    SSL_set_rfd(ssl, in_fd);
    SSL_set_wfd(ssl, out_fd);
    set_nonblocking(in_fd);
    if (out_fd != in_fd) set_nonblocking(out_fd);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (int round = 0; round < 10'000; ++round) {
        int ret = SSL_accept(ssl);
        if (ret == 1) return session;
        int error = SSL_get_error(ssl, ret);
        if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
            // The reason alone ("wrong version number"); callers say what failed.
            unsigned long code = ERR_get_error();
            ERR_clear_error();
            if (code == 0)
                return tl::unexpected(std::string(error == SSL_ERROR_SYSCALL || error == SSL_ERROR_ZERO_RETURN
                                                      ? "the client closed the connection"
                                                      : "protocol error"));
            const char* reason = ERR_reason_error_string(code);
            return tl::unexpected(std::string(reason ? reason : "protocol error"));
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) return tl::unexpected(std::string("timed out"));
        pollfd p{error == SSL_ERROR_WANT_READ ? in_fd : out_fd,
                 static_cast<short>(error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
        if (::poll(&p, 1, static_cast<int>(left)) == 0)
            return tl::unexpected(std::string("timed out"));
    }
    return tl::unexpected(std::string("did not finish"));
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

TlsSession::Io TlsSession::result(int ret) {
    if (ret > 0) return {ret, Want::nothing, false};
    int error = SSL_get_error(ssl_, ret);
    ERR_clear_error();
    switch (error) {
    case SSL_ERROR_WANT_READ: return {0, Want::read, false};
    case SSL_ERROR_WANT_WRITE: return {0, Want::write, false};
    case SSL_ERROR_ZERO_RETURN: return {0, Want::nothing, false};
    default: return {0, Want::nothing, true};
    }
}

TlsSession::Io TlsSession::read(char* buffer, std::size_t size) {
    return result(SSL_read(ssl_, buffer, static_cast<int>(std::min<std::size_t>(size, 1 << 30))));
}

TlsSession::Io TlsSession::write(const char* data, std::size_t size) {
    return result(SSL_write(ssl_, data, static_cast<int>(std::min<std::size_t>(size, 1 << 30))));
}

bool TlsSession::pending() const { return SSL_pending(ssl_) > 0; }

void TlsSession::shutdown() { SSL_shutdown(ssl_); }

std::string TlsSession::description() const {
    return std::string(SSL_get_version(ssl_)) + " " + SSL_get_cipher_name(ssl_);
}

} // namespace pop3::shell
