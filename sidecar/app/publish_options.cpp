#include "sidecar/app/publish_options.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <array>
#include <charconv>

#include "sidecar/core/json_writer.hpp"
#include "sidecar/core/units.hpp"

namespace sidecar {
namespace {

// Options that take a value, as the next word or after "=".
constexpr std::array<std::string_view, 12> kValued = {
    "--topic",           "--event",  "--data",   "--data-file", "--json", "--retry",
    "--idempotency-key", "--socket", "--config", "-c",          "-s",     "--reply-timeout"};

PublishArgs fail(std::string error) {
  return PublishArgs{std::nullopt, std::move(error)};
}

std::string quoted(std::string_view s) {
  return "'" + std::string(s) + "'";
}

}  // namespace

PublishArgs parse_publish_args(const std::vector<std::string_view>& args,
                               std::string_view default_config) {
  PublishOptions o;
  o.config_path = std::string(default_config);
  std::vector<std::string_view> positional;
  std::vector<std::string_view> given;  // options that may be given once, as given
  std::string_view data_option;         // which of --data, --data-file, --json was given
  std::string_view first_event_option;  // an option only the one-event form takes
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    std::string_view name = arg;
    std::optional<std::string_view> value;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    if (name == "-h" || name == "--help" || name == "-q" || name == "--quiet") {
      if (value) return fail(std::string(name) + " takes no value");
      (name == "-h" || name == "--help" ? o.help : o.quiet) = true;
      continue;
    }
    if (std::find(kValued.begin(), kValued.end(), name) == kValued.end()) {
      return fail("unknown option " + quoted(arg));
    }
    if (!value) {
      if (i + 1 == args.size()) return fail(std::string(name) + " needs a value");
      value = args[++i];
    }
    if (name == "--topic") {
      o.topics.emplace_back(*value);
      continue;
    }
    std::string_view canonical = name == "-c" ? "--config" : name == "-s" ? "--socket" : name;
    if (std::find(given.begin(), given.end(), canonical) != given.end()) {
      return fail(std::string(canonical) + " is given twice");
    }
    given.push_back(canonical);
    if (name == "--data" || name == "--data-file" || name == "--json") {
      if (!data_option.empty()) {
        return fail(std::string(data_option) + " and " + std::string(name) +
                    " are exclusive: the data is given once, with --data, --data-file or --json");
      }
      data_option = name;
      o.data_kind = name == "--data"        ? PublishOptions::Data::kText
                    : name == "--data-file" ? PublishOptions::Data::kFile
                                            : PublishOptions::Data::kJson;
      o.data = std::string(*value);
      if (o.data_kind == PublishOptions::Data::kFile && o.data.empty()) {
        return fail("--data-file needs a file name (\"-\" for standard input)");
      }
    } else if (name == "--event") {
      o.event = std::string(*value);
    } else if (name == "--retry") {
      std::uint32_t ms = 0;
      auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), ms);
      if (value->empty() || ec != std::errc() || end != value->data() + value->size()) {
        return fail("--retry takes a number of milliseconds, not " + quoted(*value));
      }
      o.retry = ms;
    } else if (name == "--reply-timeout") {
      auto timeout = parse_duration(*value);
      if (!timeout || timeout->count() <= 0) {
        return fail("--reply-timeout takes a duration such as 30s or 500ms, not " + quoted(*value));
      }
      o.reply_timeout = *timeout;
    } else if (name == "--idempotency-key") {
      o.idempotency_key = std::string(*value);
    } else if (canonical == "--socket") {
      if (value->empty()) return fail("--socket needs the path of the publish socket");
      o.socket = std::string(*value);
    } else {  // --config
      if (value->empty()) return fail("--config needs a file name");
      o.config_path = std::string(*value);
    }
    if (canonical != "--socket" && canonical != "--config" && canonical != "--reply-timeout" &&
        first_event_option.empty()) {
      first_event_option = name;
    }
  }
  if (o.help) return PublishArgs{std::move(o), {}};
  if (positional.size() > 1) {
    return fail("unexpected argument " + quoted(positional[1]) +
                ": the TOPIC comes once (more with --topic), the data with --data");
  }
  if (!positional.empty()) o.topics.insert(o.topics.begin(), std::string(positional[0]));
  if (o.topics.empty() && !first_event_option.empty()) {
    return fail(std::string(first_event_option) +
                " needs a TOPIC (without one, events are read from standard input as NDJSON "
                "lines)");
  }
  return PublishArgs{std::move(o), {}};
}

std::string publish_usage(std::string_view default_config) {
  return "Usage: sse-sidecar publish TOPIC [--topic T ...] [--event NAME]\n"
         "                  [--data TEXT | --data-file FILE | --json VALUE]\n"
         "                  [--retry MS] [--idempotency-key K] [OPTIONS]\n"
         "       sse-sidecar publish [OPTIONS] < events.ndjson\n"
         "\n"
         "Publishes to a running sidecar over its publish socket: the one event given here or,\n"
         "without a TOPIC, each NDJSON line of standard input as it is (the socket's own\n"
         "format; blank lines skipped). Prints each reply line as the sidecar sends it.\n"
         "\n"
         "  TOPIC, --topic T         the event's topic; --topic adds more\n"
         "      --event NAME         its SSE event name (default: the browser's \"message\")\n"
         "      --data TEXT          its data, as text\n"
         "      --data-file FILE     its data, the content of FILE (\"-\": standard input)\n"
         "      --json VALUE         its data, a JSON value (checked before sending)\n"
         "      --retry MS           the reconnect delay sent with it, in milliseconds\n"
         "      --idempotency-key K  a resend with the same key is not published twice\n"
         "  -s, --socket PATH        the publish socket (default: publish.socket of the\n"
         "                           configuration)\n"
         "  -c, --config FILE        the configuration naming the socket\n"
         "                           (default " +
         std::string(default_config) +
         ")\n"
         "      --reply-timeout T    give up (exit 2) when the sidecar sends no reply for T while\n"
         "                           lines await theirs (default 30s)\n"
         "  -q, --quiet              print only the replies of refused lines, and no progress\n"
         "  -h, --help               print this help\n"
         "\n"
         "On a long input a progress line goes to standard error every second.\n"
         "Exit status: 0 every event was accepted; 1 some were refused (their replies say why);\n"
         "2 a usage error, no connection to the socket, or the connection lost before every\n"
         "line was answered (a line without a reply may or may not have been published).\n";
}

std::optional<std::string> event_line(const PublishOptions& o, std::string_view data,
                                      std::string& error) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  if (o.topics.size() == 1) {
    w.Key("topic");
    write_string(w, o.topics.front());
  } else {
    w.Key("topics");
    w.StartArray();
    for (const auto& topic : o.topics) write_string(w, topic);
    w.EndArray();
  }
  if (o.event) {
    w.Key("event");
    write_string(w, *o.event);
  }
  if (o.data_kind == PublishOptions::Data::kJson) {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(data.data(), data.size());
    if (doc.HasParseError()) {
      error = "--json: not a JSON value: " +
              std::string(rapidjson::GetParseError_En(doc.GetParseError())) + " (at offset " +
              std::to_string(doc.GetErrorOffset()) +
              "); a string is quoted, as '\"text\"', or given with --data";
      return std::nullopt;
    }
    w.Key("data");
    doc.Accept(w);
  } else if (o.data_kind != PublishOptions::Data::kNone) {
    w.Key("data");
    write_string(w, data);
  }
  if (o.retry) {
    w.Key("retry");
    w.Uint(*o.retry);
  }
  if (o.idempotency_key) {
    w.Key("idempotency_key");
    write_string(w, *o.idempotency_key);
  }
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace sidecar
