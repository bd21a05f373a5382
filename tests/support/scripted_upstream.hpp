#pragma once
// A hostile stand-in for the extract API, for tests: it answers GET /v1/batches with whatever
// body the test scripted for the cursor asked (deep nesting, NUL ids, loops of cursors, …),
// or hands the whole exchange to a handler the test wrote (slow bodies, huge answers).
// Listens on 127.0.0.1, a free port, until destroyed.

#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace extract::testing {

class ScriptedUpstream {
public:
    // Writes the whole answer to one request; replaces the scripted pages while set.
    using Handler = std::function<void(Poco::Net::HTTPServerRequest&, Poco::Net::HTTPServerResponse&)>;

    ScriptedUpstream();
    ~ScriptedUpstream();
    ScriptedUpstream(const ScriptedUpstream&) = delete;
    ScriptedUpstream& operator=(const ScriptedUpstream&) = delete;

    std::string base_url() const;

    // The 200 body of GET /v1/batches for `cursor` ("" for the first page). Unscripted: 404.
    void set_page(const std::string& cursor, std::string body);
    // The 200 body of GET /v1/batches/{id}. Unscripted: 404.
    void set_batch(const std::string& id, std::string body);
    void set_handler(Handler handler);
    int requests() const;

    // Called by the server's threads.
    void serve(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response);

private:
    mutable std::mutex mutex_;
    std::map<std::string, std::string> pages_;
    std::map<std::string, std::string> batches_;
    Handler handler_;
    int requests_ = 0;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
};

}  // namespace extract::testing
