// TLS with OpenSSL (RFC 2595 STLS and implicit POP3S): the server context
// and one connection's TLS session over its file descriptors.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <tl/expected.hpp>

struct ssl_ctx_st;
struct ssl_st;

namespace pop3::shell {

// What `pop3d --check` reports about the server certificate.
struct CertificateFacts {
    std::string subject;            // one line, e.g. "CN = mail.example.org"
    std::vector<std::string> names; // DNS names of subjectAltName
    std::string not_before, not_after;
    long days_left = 0;             // to not_after; negative once expired
};

// The certificate, key and protocol policy: TLS 1.2 minimum, forward-secret
// AEAD ciphers for TLS 1.2, no renegotiation, no compression, no session
// tickets of either TLS version.
class TlsContext {
public:
    [[nodiscard]] static tl::expected<TlsContext, std::string>
    load(const std::string& cert_file, const std::string& key_file);
    [[nodiscard]] ssl_ctx_st* get() const { return ctx_.get(); }
    // Empty, or why clients will reject the certificate (expired, not yet
    // valid), for one warning in the log: it is served anyway.
    [[nodiscard]] const std::string& warning() const { return warning_; }
    // The leaf certificate's subject, names and validity.
    [[nodiscard]] CertificateFacts certificate_facts() const;

private:
    std::string warning_;
    struct Free { void operator()(ssl_ctx_st* c) const; };
    std::unique_ptr<ssl_ctx_st, Free> ctx_;
};

// One server-side TLS session. I/O never blocks: the fds are switched to
// non-blocking mode and callers wait with poll(2) as `want` says.
class TlsSession {
public:
    enum class Want { nothing, read, write };
    struct Io {
        long bytes;     // > 0 transferred; 0 with want == nothing: closed
        Want want;      // retry after the fd is readable/writable
        bool failed;    // fatal error or close without close_notify
    };

    // Runs the handshake, waiting at most `timeout_ms` in all.
    [[nodiscard]] static tl::expected<std::unique_ptr<TlsSession>, std::string>
    accept(const TlsContext& context, int in_fd, int out_fd, int timeout_ms);
    ~TlsSession();

    [[nodiscard]] Io read(char* buffer, std::size_t size);
    [[nodiscard]] Io write(const char* data, std::size_t size);
    // Decrypted bytes already buffered (poll would not see them).
    [[nodiscard]] bool pending() const;
    // Sends close_notify, best effort.
    void shutdown();
    // "TLSv1.3 TLS_AES_256_GCM_SHA384", for the log.
    [[nodiscard]] std::string description() const;

private:
    explicit TlsSession(ssl_st* ssl) : ssl_(ssl) {}
    Io result(int ret);
    ssl_st* ssl_;
};

} // namespace pop3::shell
