// api/openapi.json stays true: it lists exactly the routes served, and every documented
// operation answers with the documented status and fields.

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "tests/api/api_fixture.hpp"

namespace extract::testing {
namespace {

using nlohmann::json;

json source_document() {
    std::ifstream in(std::string(EXTRACT_SOURCE_DIR) + "/api/openapi.json");
    return json::parse(in);
}

class ApiOpenApi : public ApiTest {
protected:
    const json& resolve(const json& schema) const {
        if (!schema.contains("$ref")) return schema;
        const std::string ref = schema["$ref"];
        return document["components"]["schemas"][ref.substr(ref.rfind('/') + 1)];
    }

    static bool has_type(const json& value, const std::string& type) {
        if (type == "null") return value.is_null();
        if (type == "string") return value.is_string();
        if (type == "integer") return value.is_number_integer();
        if (type == "number") return value.is_number();
        if (type == "boolean") return value.is_boolean();
        if (type == "array") return value.is_array();
        if (type == "object") return value.is_object();
        return false;
    }

    // Required fields present, types as documented, recursively.
    void check(const json& value, const json& schema_or_ref, const std::string& where) const {
        const json& schema = resolve(schema_or_ref);
        if (schema.contains("type")) {
            const auto types = schema["type"].is_array() ? schema["type"] : json::array({schema["type"]});
            bool ok = false;
            for (const auto& t : types) ok = ok || has_type(value, t);
            EXPECT_TRUE(ok) << where << " should be " << schema["type"] << ", is " << value;
        }
        if (value.is_object()) {
            if (schema.contains("required")) {
                for (const auto& name : schema["required"]) {
                    EXPECT_TRUE(value.contains(name)) << where << " lacks " << name << ": " << value;
                }
            }
            if (schema.contains("properties")) {
                for (const auto& [name, sub] : schema["properties"].items()) {
                    if (value.contains(name)) check(value[name], sub, where + "." + name);
                }
            }
        }
        if (value.is_array() && schema.contains("items")) {
            for (std::size_t i = 0; i < value.size(); ++i)
                check(value[i], schema["items"], where + "[" + std::to_string(i) + "]");
        }
    }

    json document = source_document();
};

TEST_F(ApiOpenApi, ServesTheDocumentFromTheSourceTree) {
    start_server();
    const auto served = get_json("/openapi.json");
    EXPECT_EQ(served, document);
    EXPECT_EQ(served["openapi"], "3.1.0");
}

TEST_F(ApiOpenApi, DocumentsExactlyTheRoutesServed) {
    start_server();
    std::set<std::pair<std::string, std::string>> documented;
    for (const auto& [path, operations] : document["paths"].items()) {
        for (const auto& [method, op] : operations.items()) {
            std::string upper = method;
            for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
            documented.emplace(upper, path);
        }
    }
    const auto served_list = server->routes();
    const std::set<std::pair<std::string, std::string>> served(served_list.begin(), served_list.end());
    EXPECT_EQ(documented, served);
}

TEST_F(ApiOpenApi, EveryOperationAnswersWithItsDocumentedFields) {
    mirror->insert_batch({.id = "b1", .status = "completed"});
    mirror->insert_transition("b1", std::nullopt, "completed", "2026-11-30T03:00:01.000Z");
    const auto seq = mirror->insert_event("batch.created", "b1", "2026-11-30T03:00:01.000Z");
    const auto delivery = mirror->insert_delivery(seq, "webhook.ops", "failed");
    mirror->insert_delivery(seq, "webhook.bulk", "failed");
    link.run_id_to_return = mirror->insert_sync_run("fast");
    link.refresh_outcome = {api::RefreshResult::refreshed, ""};
    start_server();

    // A request for each documented operation, with the test data's ids in the paths.
    const std::map<std::pair<std::string, std::string>, std::string> targets{
        {{"get", "/v1/batches"}, "/v1/batches?limit=1"},
        {{"get", "/v1/batches/{batch_id}"}, "/v1/batches/b1"},
        {{"post", "/v1/batches/{batch_id}/refresh"}, "/v1/batches/b1/refresh"},
        {{"get", "/v1/batches/{batch_id}/transitions"}, "/v1/batches/b1/transitions"},
        {{"get", "/v1/transitions"}, "/v1/transitions"},
        {{"get", "/v1/report"}, "/v1/report?since=2026-11-01T00:00:00Z"},
        {{"get", "/v1/backup"}, "/v1/backup"},
        {{"get", "/v1/events"}, "/v1/events?after=0"},
        {{"get", "/v1/stats"}, "/v1/stats"},
        {{"get", "/v1/health"}, "/v1/health"},
        {{"post", "/v1/sync"}, "/v1/sync?wait=true"},
        {{"get", "/v1/deliveries"}, "/v1/deliveries"},
        {{"post", "/v1/deliveries/{delivery_id}/retry"}, "/v1/deliveries/" + std::to_string(delivery) + "/retry"},
        {{"post", "/v1/deliveries/retry"}, "/v1/deliveries/retry?target=webhook.bulk"},
        {{"get", "/metrics"}, "/metrics"},
        {{"get", "/openapi.json"}, "/openapi.json"},
    };
    for (const auto& [path, operations] : document["paths"].items()) {
        for (const auto& [method, op] : operations.items()) {
            SCOPED_TRACE(method + " " + path);
            const auto target = targets.find({method, path});
            ASSERT_NE(target, targets.end()) << "documented but not exercised here: add it to `targets`";
            const auto reply = method == "get" ? get(target->second) : post(target->second);
            const std::string code = std::to_string(reply.status);
            ASSERT_TRUE(op["responses"].contains(code)) << "undocumented status " << code << ": " << reply.body;
            const auto& content = op["responses"][code]["content"];
            if (content.contains("application/json")) {
                const auto body = json::parse(reply.body);
                check(body, content["application/json"]["schema"], "body");
                if (body.contains("data")) {
                    EXPECT_FALSE(body["data"].empty()) << "an empty list checks nothing";
                }
            } else if (content.contains("application/vnd.sqlite3")) {
                EXPECT_EQ(reply.body.substr(0, 16), std::string("SQLite format 3\0", 16));
            } else {
                EXPECT_TRUE(content.contains("text/plain"));
                EXPECT_FALSE(reply.body.empty());
            }
        }
    }
}

}  // namespace
}  // namespace extract::testing
