#pragma once
// An HttpTransport that answers from a script and records every request, so client logic is
// tested without a network. Each request can be stamped with a Clock's time to check waits.

#include <gtest/gtest.h>

#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "upstream/http_transport.hpp"

namespace extract::testing {

class FakeTransport final : public upstream::HttpTransport {
public:
    struct Request {
        std::string target;
        upstream::HeaderList headers;
        SteadyTime sent_at{};  // by the clock given to the constructor, if any
        // The first header of that name (exact spelling), or "" when absent.
        std::string header(const std::string& name) const {
            for (const auto& [key, value] : headers) {
                if (key == name) return value;
            }
            return {};
        }
    };

    explicit FakeTransport(const Clock* clock = nullptr) : clock_(clock) {}

    // Queues an HTTP answer.
    FakeTransport& respond(int status, std::string body, upstream::HeaderList headers = {}) {
        upstream::TransportResult result;
        result.response = upstream::HttpResponse{status, std::move(headers), std::move(body)};
        return push(std::move(result));
    }
    // Queues a failure without an HTTP answer.
    FakeTransport& fail(upstream::TransportError error, std::string message = "scripted failure") {
        return push(upstream::TransportResult{error, std::move(message), {}});
    }
    FakeTransport& push(upstream::TransportResult result) {
        std::lock_guard lock(mutex_);
        script_.push_back(std::move(result));
        return *this;
    }
    // The answer once the script has run out; without one, running out fails the test.
    void respond_always(int status, std::string body) {
        std::lock_guard lock(mutex_);
        fallback_ = upstream::TransportResult{};
        fallback_->response = upstream::HttpResponse{status, {}, std::move(body)};
    }

    upstream::TransportResult get(const std::string& target, const upstream::HeaderList& headers) override {
        std::lock_guard lock(mutex_);
        requests_.push_back(Request{target, headers, clock_ ? clock_->steady_now() : SteadyTime{}});
        if (aborted_) return {upstream::TransportError::aborted, "aborted", {}};
        if (!script_.empty()) {
            auto next = std::move(script_.front());
            script_.pop_front();
            return next;
        }
        if (fallback_) return *fallback_;
        ADD_FAILURE() << "FakeTransport: no scripted answer left for GET " << target;
        return {upstream::TransportError::connection_reset, "script exhausted", {}};
    }

    void abort() override {
        std::lock_guard lock(mutex_);
        aborted_ = true;
    }

    std::vector<Request> requests() const {
        std::lock_guard lock(mutex_);
        return requests_;
    }
    std::size_t remaining() const {
        std::lock_guard lock(mutex_);
        return script_.size();
    }

private:
    const Clock* clock_;
    mutable std::mutex mutex_;
    std::deque<upstream::TransportResult> script_;
    std::optional<upstream::TransportResult> fallback_;
    std::vector<Request> requests_;
    bool aborted_ = false;
};

}  // namespace extract::testing
