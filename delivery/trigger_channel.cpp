#include "delivery/trigger_channel.hpp"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>

#include "core/untrusted_text.hpp"

namespace extract::delivery {
namespace {

// The longest value put in a trigger's environment (docs/webhooks.md). Far above any id or
// status, far below what execve() accepts in all.
constexpr std::size_t kMaxTriggerValueBytes = 4096;
constexpr std::array<const char*, 6> kTriggerVariables{"EXTRACT_EVENT_ID",        "EXTRACT_EVENT_TYPE",
                                                       "EXTRACT_BATCH_ID",        "EXTRACT_BATCH_STATUS",
                                                       "EXTRACT_PREVIOUS_STATUS", "EXTRACT_SOCKET"};

// A string member of a JSON object, or "" when absent or not a string.
std::string text_of(const nlohmann::json& object, const char* key) {
    if (!object.is_object()) return {};
    const auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

TriggerChannel::TriggerChannel(const TriggerTarget& target, std::string socket_path,
                               std::unique_ptr<ProcessRunner> runner)
    : name_("trigger." + target.name),
      argv_(target.argv),
      timeout_(target.timeout),
      socket_path_(std::move(socket_path)),
      runner_(std::move(runner)) {}

std::vector<std::pair<std::string, std::string>> trigger_environment(const OutboxDelivery& delivery,
                                                                     const std::string& socket_path) {
    // The payload was written by the mirror as valid JSON (the column is CHECKed); should it
    // not be, the batch's status is simply unknown to the command.
    const auto payload = nlohmann::json::parse(delivery.payload, nullptr, false);
    const nlohmann::json data =
        payload.is_object() ? payload.value("data", nlohmann::json::object()) : nlohmann::json();
    const nlohmann::json batch = data.is_object() ? data.value("batch", nlohmann::json::object()) : nlohmann::json();
    std::vector<std::pair<std::string, std::string>> environment{
        {"EXTRACT_EVENT_ID", delivery.event_id},
        {"EXTRACT_EVENT_TYPE", delivery.event_type},
        {"EXTRACT_BATCH_ID", delivery.batch_id},
        {"EXTRACT_BATCH_STATUS", text_of(batch, "status")},
        {"EXTRACT_PREVIOUS_STATUS", text_of(data, "previous_status")},
        {"EXTRACT_SOCKET", socket_path},
    };
    // A value the environment cannot carry whole is left out, never cut: a NUL would end it early
    // (EXTRACT_BATCH_ID=bat for "bat\0x"), and a huge one fails every exec with E2BIG, holding
    // the deliveries behind it. The event on stdin has every value whole.
    std::erase_if(environment, [&](const auto& variable) {
        const auto& [name, value] = variable;
        const bool passable = value.find('\0') == std::string::npos && value.size() <= kMaxTriggerValueBytes;
        if (!passable) {
            spdlog::warn("event {}: {} is left out of the trigger's environment ({}); the event on stdin holds it",
                         escape_untrusted(delivery.event_id), name,
                         value.size() > kMaxTriggerValueBytes ? std::to_string(value.size()) + " bytes, more than " +
                                                                    std::to_string(kMaxTriggerValueBytes)
                                                              : std::string("it contains a NUL byte"));
        }
        return !passable;
    });
    return environment;
}

ProcessRequest TriggerChannel::request_for(const OutboxDelivery& delivery) const {
    ProcessRequest request;
    request.argv = argv_;
    request.environment = trigger_environment(delivery, socket_path_);
    // A variable left out must not come from the daemon's own environment instead.
    for (const char* name : kTriggerVariables) {
        const bool set = std::any_of(request.environment.begin(), request.environment.end(),
                                     [name](const auto& variable) { return variable.first == name; });
        if (!set) request.withheld.emplace_back(name);
    }
    request.input = delivery.payload;
    request.timeout = timeout_;
    request.log_name = name_;
    return request;
}

AttemptResult TriggerChannel::deliver(const OutboxDelivery& delivery) {
    return classify_process(runner_->run(request_for(delivery)));
}

void TriggerChannel::abort() { runner_->abort(); }

AttemptResult classify_process(const ProcessOutcome& outcome) {
    AttemptResult result;
    std::string error;
    switch (outcome.ending) {
        case ProcessOutcome::Ending::exited:
            result.status = outcome.code;
            if (outcome.code == 0) {
                result.verdict = AttemptResult::Verdict::delivered;
                return result;
            }
            error = "exit code " + std::to_string(outcome.code);
            break;
        case ProcessOutcome::Ending::killed_by_signal:
            result.status = 128 + outcome.code;  // as a shell reports it
            error = "killed by signal " + std::to_string(outcome.code);
            break;
        case ProcessOutcome::Ending::timed_out:
        case ProcessOutcome::Ending::failed_to_start: error = outcome.message; break;
        case ProcessOutcome::Ending::aborted:
            result.verdict = AttemptResult::Verdict::aborted;
            result.error = outcome.message;
            return result;
    }
    result.verdict = AttemptResult::Verdict::retry;
    if (!outcome.last_line.empty()) error += ": " + outcome.last_line;
    result.error = error_snippet(error);
    return result;
}

}  // namespace extract::delivery
