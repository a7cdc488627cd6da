// Bash completion for ipmasq, made from the command line's own tables (host/cli/cli-spec.ts):
// commands, each command's options, the values an option takes, interface names for --wan/--lan.
import { OPTIONS, COMMANDS } from "./cli-spec";

export function bashCompletion(): string {
  const cases = Object.entries(COMMANDS).map(
    ([name, c]) =>
      `    ${name}) opts="${[...c.options.filter((o) => !OPTIONS[o].hidden), "help"].map((o) => `--${o}`).join(" ")}" ;;`,
  );
  const choices = Object.entries(OPTIONS)
    .filter(([, o]) => o.arg && /^[a-z-]+(\|[a-z-]+)+$/.test(o.arg))
    .map(
      ([name, o]) => `    --${name}) COMPREPLY=($(compgen -W "${o.arg!.split("|").join(" ")}" -- "$cur")); return ;;`,
    );
  return `# bash completion for ipmasq (written by ipmasq install)
_ipmasq() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} cmd=\${COMP_WORDS[1]} opts
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${Object.keys(COMMANDS).join(" ")} help --help --version" -- "$cur"))
    return
  fi
  case "$prev" in
    --wan|--lan) COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur")); return ;;
    --config|--state-dir|--root) COMPREPLY=($(compgen -f -- "$cur")); return ;;
${choices.join("\n")}
  esac
  case "$cmd" in
${cases.join("\n")}
    help) opts="${Object.keys(COMMANDS).join(" ")} conf manual" ;;
    *) opts="" ;;
  esac
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -F _ipmasq ipmasq
`;
}
