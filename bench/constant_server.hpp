#pragma once
// The ceiling for the query API benchmark: Poco's HTTPServer on a Unix-domain socket
// answering one constant JSON body, with the same keep-alive and thread count a client
// load needs. Whatever the daemon costs above this is ours.

#include <memory>
#include <string>

namespace extract::bench {

class ConstantServer {
public:
    // Binds `socket_path` (replacing a stale file) and serves until destroyed. Throws
    // Poco::Exception when it cannot bind.
    ConstantServer(const std::string& socket_path, int threads);
    ~ConstantServer();
    ConstantServer(const ConstantServer&) = delete;
    ConstantServer& operator=(const ConstantServer&) = delete;

    // The body every later request gets (set between runs, not during one).
    void set_body(std::string body);

private:
    struct Running;
    std::unique_ptr<Running> running_;
};

}  // namespace extract::bench
