#!/usr/bin/env python3
"""Man pages and shell completions generated from one source each, so that they stay true:

  extract-syncd.8       from `extract-syncd --help`
  extractctl.1          from `extractctl help` and `extractctl help COMMAND` for every command
  extract-sync.ini.5    from docs/configuration.md
  extractctl.bash, _extractctl (zsh)   from the same extractctl help texts

Usage: man_and_completions.py OUT_DIR VERSION EXTRACT_SYNCD EXTRACTCTL CONFIGURATION_MD
Run by the build (cmake/packaging.cmake); tests/install checks the results (`man -l`, bash -n,
zsh -n when installed).
"""
import gzip
import re
import subprocess
import sys
from pathlib import Path

# Batch statuses offered for `--status` (the upstream's documented ones; it may add more).
STATUSES = ["pending", "running", "completed", "partially_failed", "failed", "cancelled"]


def run(*argv):
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def roff_text(text):
    """Inline markdown and plain text as roff: escapes first, then `code` and **bold** in bold."""
    text = text.replace("\\", "\\e")
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)  # [text](link) -> text
    text = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", text)
    text = re.sub(r"`([^`]+)`", r"\\fB\1\\fR", text)
    text = text.replace("-", "\\-")
    return text


def roff_line(text):
    """A line of text that roff must not read as a request."""
    line = roff_text(text.strip())
    return "\\&" + line if line.startswith((".", "'")) else line


def header(name, section, title):
    return [f'.TH {name.upper()} {section} "" "extract-sync {VERSION}" "{title}"']


def split_blocks(text):
    return [b for b in re.split(r"\n\s*\n", text.strip("\n")) if b.strip()]


def entries(lines):
    """'  term   description' lines (with deeper continuation lines) as (term, description)."""
    out = []
    for line in lines:
        if not line.strip():
            continue
        if re.match(r"^ {1,4}\S", line):
            parts = re.split(r"\s{2,}", line.strip(), maxsplit=1)
            out.append([parts[0], parts[1] if len(parts) > 1 else ""])
        elif out:
            out[-1][1] = (out[-1][1] + " " + line.strip()).strip()
    return out


def tp(term, description):
    return [".TP", ".B " + roff_line(term), roff_line(description) if description else ""]


# ---- extract-syncd(8) --------------------------------------------------------------------------
def syncd_page(help_text):
    blocks = split_blocks(help_text)
    synopsis = blocks[0].split("usage: ", 1)[-1].strip()
    description = " ".join(blocks[1].split())
    out = header("extract-syncd", 8, "System Administration")
    name_line = description.split(",")[0]
    out += [".SH NAME", "extract-syncd \\- " + roff_text(name_line[:1].lower() + name_line[1:]),
            ".SH SYNOPSIS", roff_line(synopsis), ".SH DESCRIPTION", roff_line(description)]
    notes = []
    for block in blocks[2:]:
        lines = block.splitlines()
        if lines[0].startswith("  -"):
            out.append(".SH OPTIONS")
            for term, text in entries(lines):
                out += tp(term, text)
        else:
            text = " ".join(block.split())
            notes += [part if i == 0 else "Exit codes:" + part for i, part in enumerate(text.split("Exit codes:")) if part]
    for note in notes:
        if note.startswith("Exit codes:"):
            out += [".SH EXIT STATUS", roff_line(note[len("Exit codes:"):])]
        else:
            out += [".SH NOTES" if ".SH NOTES" not in out else ".PP", roff_line(note)]
    out += [".SH FILES", ".TP", ".B /etc/extract\\-sync/extract\\-sync.ini", "the configuration (extract\\-sync.ini(5))",
            ".SH SEE ALSO", "extractctl(1), extract\\-sync.ini(5), systemd.service(5)"]
    return "\n".join(line for line in out if line is not None) + "\n"


# ---- extractctl(1) -----------------------------------------------------------------------------
def titled_blocks(text):
    """{'Title': [indented lines]} for blocks that start with 'Title:' on a line of their own."""
    found, loose = {}, []
    for block in split_blocks(text):
        lines = block.splitlines()
        if re.match(r"^[A-Z][^:]*:$", lines[0]):
            found[lines[0][:-1]] = lines[1:]
        else:
            loose.append(block)
    return found, loose


def command_help(ctl, name):
    text = run(ctl, "help", name)
    blocks = split_blocks(text)
    synopsis = blocks[0].splitlines()[0].split("[--json] ", 1)[-1]
    about = blocks[1] if len(blocks) > 1 else ""
    titled, _ = titled_blocks(text)
    options = entries(titled.get("Options", []))
    example = [line.strip().lstrip("$ ").strip() for line in titled.get("Example", [])]
    return synopsis, about, options, example


def commands_of(overview):
    titled, _ = titled_blocks(overview)
    return [re.split(r"\s", term, maxsplit=1)[0] for term, _ in entries(titled["Commands"])]


def ctl_page(ctl):
    overview = run(ctl, "help")
    titled, loose = titled_blocks(overview)
    out = header("extractctl", 1, "User Commands")
    first = loose[0].split(":", 1)
    out += [".SH NAME", "extractctl \\- " + roff_text(first[1].strip().rstrip(".")),
            ".SH SYNOPSIS", roff_line(loose[1].split("Usage: ", 1)[-1]),
            ".SH DESCRIPTION", roff_line(loose[0]), ".SH COMMANDS"]
    for name in commands_of(overview):
        synopsis, about, options, example = command_help(ctl, name)
        out += [".TP", ".B " + roff_line(synopsis)]
        paragraphs = [" ".join(p.split()) for p in about.split("\n") if p.strip()]
        out.append(roff_line(" ".join(paragraphs)))
        for term, text in options:
            out += [".RS", ".TP", ".B " + roff_line(term), roff_line(text), ".RE"]
        for line in example:
            out += [".RS", ".PP", "Example: \\fB" + roff_line(line) + "\\fR", ".RE"]
    global_title = next(t for t in titled if t.startswith("Global options"))
    out.append(".SH OPTIONS")
    out.append(roff_line(global_title + ".") if "(" in global_title else "")
    for term, text in entries(titled[global_title]):
        out += tp(term, text)
    for block in loose[2:]:
        text = " ".join(block.split())
        if text.startswith("Exit codes:"):
            out += [".SH EXIT STATUS", roff_line(text[len("Exit codes:"):])]
    out += [".SH ENVIRONMENT", ".TP", ".B EXTRACT_SOCKET", "the daemon's socket when \\-\\-socket is not given",
            ".SH SEE ALSO", "extract\\-syncd(8), extract\\-sync.ini(5)"]
    return "\n".join(line for line in out if line) + "\n"


# ---- extract-sync.ini(5) -----------------------------------------------------------------------
def ini_page(markdown):
    out = header("extract-sync.ini", 5, "File Formats")
    out += [".SH NAME", "extract\\-sync.ini \\- the configuration of extract\\-syncd"]
    lines = markdown.splitlines()
    i = 0
    paragraph = []
    table_header = None

    def flush():
        if paragraph:
            out.append(roff_line(" ".join(paragraph)))
            paragraph.clear()

    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            flush()
            out += [".PP", ".RS", ".nf"]
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                out.append(roff_line(lines[i]) if lines[i].strip() else "")
                i += 1
            out += [".fi", ".RE"]
        elif line.startswith("# "):
            flush()
            out.append(".SH DESCRIPTION")
        elif line.startswith("## ") or line.startswith("### "):
            flush()
            title = re.sub(r"`", "", line.lstrip("#").strip())
            out.append((".SH " if line.startswith("## ") else ".SS ") + '"' + roff_text(title).replace('"', "") + '"')
        elif line.startswith("|"):
            flush()
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if table_header is None:
                table_header = cells
            elif not all(re.fullmatch(r":?-+:?", c) for c in cells):
                out += [".TP", ".B " + roff_line(cells[0].replace("`", ""))]
                details = [f"{h}: {c}" for h, c in zip(table_header[1:-1], cells[1:-1])]
                text = cells[-1] + (" (" + "; ".join(details) + ")" if details else "")
                out.append(roff_line(text))
        elif line.startswith("- "):
            flush()
            out += [".IP \\(bu 2", roff_line(line[2:])]
        elif not line.strip():
            flush()
            table_header = None
            out.append(".PP")
        else:
            paragraph.append(line.strip())
        i += 1
    flush()
    out += [".SH FILES", ".TP", ".B /etc/extract\\-sync/extract\\-sync.ini", "read by extract\\-syncd(8) by default",
            ".SH SEE ALSO", "extract\\-syncd(8), extractctl(1)"]
    # No paragraph break right after a heading or before another one.
    tidy = []
    for line in out:
        if line == ".PP" and tidy and (tidy[-1] in (".PP",) or tidy[-1].startswith((".SH", ".SS", ".TH"))):
            continue
        if line.startswith((".SH", ".SS", ".TP", ".IP")) and tidy and tidy[-1] == ".PP":
            tidy.pop()
        tidy.append(line)
    return "\n".join(line for line in tidy if line) + "\n"


# ---- completions -------------------------------------------------------------------------------
def completion_model(ctl):
    overview = run(ctl, "help")
    model = {}
    for name in commands_of(overview):
        _, _, options, _ = command_help(ctl, name)
        flags = {}
        for term, text in options:
            parts = term.split()
            values = []
            # A closed set in the help text: "(a, b, c)" or "(a, b or c)".
            listed = re.search(r"\(([a-z_.]+(?:(?:, or |, | or )[a-z_.]+)+)\)", text)
            if parts[0] == "--status":
                values = STATUSES
            elif listed:
                values = re.split(r", or |, | or ", listed.group(1))
            flags[parts[0]] = (len(parts) > 1, values)
        model[name] = flags
    return model


def bash_completion(model):
    out = ["# bash completion for extractctl (generated from its help texts by cmake/man_and_completions.py)",
           "_extractctl() {",
           "    local cur prev words cword",
           "    cur=${COMP_WORDS[COMP_CWORD]}",
           "    prev=${COMP_WORDS[COMP_CWORD-1]}",
           "    local command='' i",
           "    for ((i = 1; i < COMP_CWORD; i++)); do",
           "        case ${COMP_WORDS[i]} in",
           "            --socket) ((i++)) ;;",
           "            -*) ;;",
           "            *) command=${COMP_WORDS[i]}; break ;;",
           "        esac",
           "    done",
           "    case $prev in",
           "        --socket) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;"]
    values = {}
    for flags in model.values():
        for flag, (takes, vals) in flags.items():
            if takes:
                values.setdefault(flag, set()).update(vals)
    for flag, vals in sorted(values.items()):
        words = " ".join(sorted(vals))
        out.append(f"        {flag}) COMPREPLY=($(compgen -W '{words}' -- \"$cur\")); return ;;")
    out += ["    esac",
            "    if [[ -z $command ]]; then",
            "        COMPREPLY=($(compgen -W '" + " ".join(model) + " --socket --json --help --version' -- \"$cur\"))",
            "        return",
            "    fi",
            "    case $command in"]
    for name, flags in model.items():
        words = " ".join(list(flags) + ["--json", "--socket", "--help"])
        if name == "help":
            words = " ".join(model)
        out.append(f"        {name}) COMPREPLY=($(compgen -W '{words}' -- \"$cur\")) ;;")
    out += ["    esac", "}", "complete -F _extractctl extractctl", ""]
    return "\n".join(out)


def zsh_completion(model, ctl):
    overview = run(ctl, "help")
    titled, _ = titled_blocks(overview)
    summaries = {re.split(r"\s", term, maxsplit=1)[0]: text for term, text in entries(titled["Commands"])}
    out = ["#compdef extractctl", "# zsh completion for extractctl (generated from its help texts by "
           "cmake/man_and_completions.py)", "", "_extractctl() {", "    local -a commands", "    commands=("]
    for name in model:
        text = summaries.get(name, "").replace("'", "").replace(":", " -")
        out.append(f"        '{name}:{text}'")
    out += ["    )",
            "    _arguments -C \\",
            "        '--socket[the daemon socket]:socket:_files' \\",
            "        '--json[print the API JSON]' \\",
            "        '--help[help]' \\",
            "        '--version[print the version]' \\",
            "        '1:command:->command' \\",
            "        '*::argument:->argument' && return",
            "    case $state in",
            "        command) _describe -t commands 'extractctl command' commands ;;",
            "        argument)",
            "            case $words[1] in"]
    for name, flags in model.items():
        specs = []
        for flag, (takes, vals) in flags.items():
            if takes and vals:
                specs.append(f"'{flag}:value:({' '.join(vals)})'")
            elif takes:
                specs.append(f"'{flag}:value:'")
            else:
                specs.append(f"'{flag}'")
        specs += ["'--json'", "'--socket:socket:_files'"]
        if name == "help":
            specs = ["'1:command:(" + " ".join(model) + ")'"]
        out.append(f"                {name}) _arguments {' '.join(specs)} ;;")
    out += ["            esac ;;", "    esac", "}", "", "_extractctl \"$@\"", ""]
    return "\n".join(out)


if __name__ == "__main__":
    out_dir, VERSION, syncd, ctl, configuration = sys.argv[1:6]
    out = Path(out_dir)
    (out / "man8").mkdir(parents=True, exist_ok=True)
    (out / "man1").mkdir(parents=True, exist_ok=True)
    (out / "man5").mkdir(parents=True, exist_ok=True)
    (out / "completions").mkdir(parents=True, exist_ok=True)
    pages = {"man8/extract-syncd.8": syncd_page(run(syncd, "--help")), "man1/extractctl.1": ctl_page(ctl),
             "man5/extract-sync.ini.5": ini_page(Path(configuration).read_text())}
    for path, text in pages.items():
        # gzip -9n as Debian wants it: no name, no time stamp, so that builds are reproducible.
        (out / (path + ".gz")).write_bytes(gzip.compress(text.encode(), compresslevel=9, mtime=0))
    model = completion_model(ctl)
    (out / "completions/extractctl").write_text(bash_completion(model))
    (out / "completions/_extractctl").write_text(zsh_completion(model, ctl))
