#include "sidecar/config/yaml_syntax.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <sstream>
#include <vector>

namespace sidecar {

namespace {

// What the parser has seen of one document so far: where it started, the collections still open
// (when it fails, those it was inside) and the last quoted scalar. Aliases are events of their
// own, never expanded.
class Outline : public YAML::EventHandler {
 public:
  // The innermost flow sequence (or mapping) still open.
  std::optional<YAML::Mark> innermost_flow(bool sequence) const {
    for (auto it = open_.rbegin(); it != open_.rend(); ++it) {
      if (it->flow && it->sequence == sequence) return it->mark;
    }
    return std::nullopt;
  }
  const std::optional<YAML::Mark>& last_quoted() const { return last_quoted_; }
  const std::optional<YAML::Mark>& start() const { return start_; }

  void OnDocumentStart(const YAML::Mark& mark) override { start_ = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t,
                const std::string&) override {
    // yaml-cpp gives quoted scalars the non-specific tag "!", plain ones "?".
    if (tag == "!") last_quoted_ = mark;
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value style) override {
    open_.push_back({mark, true, style == YAML::EmitterStyle::Flow});
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value style) override {
    open_.push_back({mark, false, style == YAML::EmitterStyle::Flow});
  }
  void OnMapEnd() override { close(); }

  // Parses the next document from `parser`: false when there is none or it fails.
  bool parse(YAML::Parser& parser) {
    try {
      return parser.HandleNextDocument(*this);
    } catch (const YAML::Exception&) {
      return false;
    }
  }

 private:
  struct Open {
    YAML::Mark mark;
    bool sequence;
    bool flow;
  };

  void close() {
    if (!open_.empty()) open_.pop_back();
  }

  std::vector<Open> open_;
  std::optional<YAML::Mark> last_quoted_;
  std::optional<YAML::Mark> start_;
};

// Where the quoted scalar opening at text[at] closes; npos when it does not.
std::size_t closing_quote(const std::string& text, std::size_t at) {
  const char quote = text[at];
  for (std::size_t i = at + 1; i < text.size(); ++i) {
    if (quote == '"' && text[i] == '\\') {
      ++i;  // an escaped character, perhaps a quote
    } else if (text[i] == quote) {
      if (quote != '\'' || i + 1 == text.size() || text[i + 1] != '\'') return i;
      ++i;  // '' is a quote inside single quotes
    }
  }
  return std::string::npos;
}

// The offset of the opening quote of the scalar at `mark`, if one is there.
std::optional<std::size_t> quote_at(const YAML::Mark& mark, const std::string& text) {
  auto at = static_cast<std::size_t>(mark.pos);
  if (mark.pos < 0 || at >= text.size() || (text[at] != '"' && text[at] != '\'')) {
    return std::nullopt;
  }
  return at;
}

std::string place(const YAML::Mark& mark) {
  return "line " + std::to_string(mark.line + 1) + ", column " + std::to_string(mark.column + 1);
}

}  // namespace

ConfigProblem yaml_syntax_problem(const std::string& text, const std::string& name,
                                  const YAML::Exception& error) {
  const YAML::Mark& at = error.mark;
  std::istringstream in(text);
  YAML::Parser parser(in);
  Outline outline;
  if (outline.parse(parser)) return {name, at.line + 1, at.column + 1, error.msg};  // not ours
  bool sequence = error.msg == YAML::ErrorMsg::END_OF_SEQ_FLOW;
  if (sequence || error.msg == YAML::ErrorMsg::END_OF_MAP_FLOW) {
    if (auto opened = outline.innermost_flow(sequence)) {
      return {name, opened->line + 1, opened->column + 1,
              std::string("this '") + (sequence ? "[" : "{") + "' is never closed (expected '" +
                  (sequence ? "]" : "}") + "' before " + place(at) + ")"};
    }
  }
  // A quoted value that spans lines just before the failure has most likely lost its closing
  // quote, and a later value's opening quote closed it.
  if (const auto& quoted = outline.last_quoted(); quoted && quoted->line < at.line) {
    if (auto open = quote_at(*quoted, text)) {
      auto close = closing_quote(text, *open);
      if (close != std::string::npos && text.find('\n', *open) < close) {
        auto last_line =
            std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(close), '\n') + 1;
        return {name, quoted->line + 1, quoted->column + 1,
                "this quoted value goes on to line " + std::to_string(last_line) +
                    " and the file does not parse after it (" + error.msg + " at " + place(at) +
                    "): is its closing quote missing?"};
      }
    }
  }
  return {name, at.line + 1, at.column + 1, error.msg};  // a null mark gives 0:0, no place
}

std::optional<ConfigProblem> unread_text(const std::string& text, const std::string& name) {
  // The first document is the one YAML::Load reads. (yaml-cpp 0.7 can go on "finding" empty
  // documents at the same place forever, so no more than one further document is asked for.)
  std::istringstream in(text);
  YAML::Parser parser(in);
  Outline first;
  if (!first.parse(parser)) return std::nullopt;  // empty, or not the problem asked about
  // Only the last quoted scalar can be unclosed: an unclosed one runs to the end of the file.
  if (const auto& quoted = first.last_quoted()) {
    auto open = quote_at(*quoted, text);
    if (open && closing_quote(text, *open) == std::string::npos) {
      return ConfigProblem{name, quoted->line + 1, quoted->column + 1,
                           "the quoted value starting here is never closed (it runs to the end of "
                           "the file)"};
    }
  }
  Outline next;
  next.parse(parser);
  if (!next.start()) return std::nullopt;
  const YAML::Mark& at = *next.start();
  if (first.start() && first.start()->pos == at.pos) {
    // The parser ends a document at this character and cannot get past it.
    auto pos = static_cast<std::size_t>(at.pos);
    std::string what = pos < text.size() ? std::string("'") + text[pos] + "'" : "text";
    return ConfigProblem{name, at.line + 1, at.column + 1,
                         "unexpected " + what + ": YAML reads nothing from here on"};
  }
  return ConfigProblem{name, at.line + 1, at.column + 1,
                       "a second YAML document starts here; the configuration is one document"};
}

}  // namespace sidecar
