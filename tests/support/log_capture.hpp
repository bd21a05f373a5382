#pragma once
// Captures everything logged through spdlog's default logger, at every level, for the
// length of a test, so a test can assert on what an operator would read (and on what must
// never appear, such as a secret).

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <sstream>
#include <string>

namespace extract::testing {

class LogCapture {
public:
    LogCapture() : previous_(spdlog::default_logger()) {
        auto logger =
            std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_));
        logger->set_level(spdlog::level::trace);
        spdlog::set_default_logger(logger);
    }
    ~LogCapture() { spdlog::set_default_logger(previous_); }
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;

    std::string text() const { return stream_.str(); }
    bool contains(const std::string& needle) const { return text().find(needle) != std::string::npos; }

private:
    std::shared_ptr<spdlog::logger> previous_;
    std::ostringstream stream_;
};

}  // namespace extract::testing
