/* cmd — ampstat's subcommands.  Each takes main's argv from the subcommand
 * name on and returns the exit status: 0 ok, 1 runtime error, 2 usage. */
#ifndef AMPSTAT_CMD_H
#define AMPSTAT_CMD_H

int cmd_top(int argc, char **argv);
int cmd_latency(int argc, char **argv);
int cmd_blocked(int argc, char **argv);
int cmd_syscalls(int argc, char **argv);
int cmd_cache(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_profile(int argc, char **argv);
int cmd_offcpu(int argc, char **argv);
int cmd_handoff(int argc, char **argv);

#endif
