#pragma once
// One worker thread's own connections to the mirror: a reader opened on first use and a
// retry writer opened only when a retry is asked for. Never shared between threads.

#include <memory>
#include <string>

#include "api/delivery_retrier.hpp"
#include "api/mirror_reader.hpp"
#include "core/clock.hpp"

namespace extract::api {

class MirrorConnections {
public:
    MirrorConnections(std::string db_path, const Clock& clock) : db_path_(std::move(db_path)), clock_(clock) {}

    // Throw SQLite::Exception when the file cannot be opened.
    MirrorReader& reader() {
        if (!reader_) reader_ = std::make_unique<MirrorReader>(db_path_);
        return *reader_;
    }
    DeliveryRetrier& retrier() {
        if (!retrier_) retrier_ = std::make_unique<DeliveryRetrier>(db_path_, clock_);
        return *retrier_;
    }
    // After an SQLite error: the next request opens fresh connections.
    void reset() {
        reader_.reset();
        retrier_.reset();
    }

private:
    std::string db_path_;
    const Clock& clock_;
    std::unique_ptr<MirrorReader> reader_;
    std::unique_ptr<DeliveryRetrier> retrier_;
};

}  // namespace extract::api
