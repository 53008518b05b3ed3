/** `aconctl completion bash`: a bash completion script made from the commands' own usage. */
import type { Command } from "./command.ts";
import { UsageError } from "./command.ts";
import { SIGNALS } from "./signals.ts";

/** The long and short flags a command's usage and help mention. */
export function commandFlags(cmd: Command): string[] {
  const text = `${cmd.usage}\n${cmd.help ?? ""}`;
  const found = new Set<string>();
  for (const m of text.matchAll(/(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z]{1,2})(?![\w-])/g)) {
    found.add(m[1]);
  }
  found.add("--help");
  found.add("--json");
  return [...found].sort();
}

const GLOBAL = ["--socket", "--tcp", "--json", "--help", "--version"];

export function bashCompletion(commands: Command[]): string {
  const names = commands.map((c) => c.name).join(" ");
  const cases = commands.map((c) => `    ${c.name}) opts="${commandFlags(c).join(" ")}" ;;`).join(
    "\n",
  );
  const sigs = Object.keys(SIGNALS).flatMap((s) => [s, `SIG${s}`]).join(" ");
  return `# bash completion for aconctl: eval "$(aconctl completion bash)" (or save it as
# /usr/share/bash-completion/completions/aconctl)
_aconctl() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} cmd="" i n=0 opts=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in
      --socket|--tcp) ((i++)) ;;
      -*) ;;
      *) if [[ -z $cmd ]]; then cmd=\${COMP_WORDS[i]}; else ((n++)); fi ;;
    esac
  done
  case $prev in
    --socket) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --tcp) return ;;
  esac
  if [[ -z $cmd ]]; then
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "${GLOBAL.join(" ")}" -- "$cur"))
    else
      COMPREPLY=($(compgen -W "${names}" -- "$cur"))
    fi
    return
  fi
  case $cmd in
${cases}
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  elif [[ $cmd == kill && $n == 1 ]]; then
    COMPREPLY=($(compgen -W "${sigs}" -- "$cur"))
  elif [[ $cmd == completion ]]; then
    COMPREPLY=($(compgen -W "bash" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _aconctl aconctl
`;
}

export function completionCommand(commands: () => Command[]): Command {
  return {
    name: "completion",
    usage: "completion bash",
    summary: 'print a bash completion script (eval "$(aconctl completion bash)")',
    help: `Completes commands, each command's flags, global flags, signal names for kill and file
names. Install: aconctl completion bash > ~/.local/share/bash-completion/completions/aconctl`,
    run(c) {
      if (c.args[0] !== "bash") throw new UsageError("completion takes the shell: bash");
      console.log(bashCompletion(commands()));
      return Promise.resolve(0);
    },
  };
}
