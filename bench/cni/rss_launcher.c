/* rss_launcher PLUGIN: runs PLUGIN with this process's stdin, stdout and environment and
 * writes its peak resident set ("<KiB>\n", from wait4's rusage) to fd 3; exits with its
 * status.
 *
 * Why: a child's ru_maxrss includes the memory it had before exec, and a child made by
 * posix_spawn (vfork) has its parent's: cni_bench's own ~3.4 MiB showed as every plugin's
 * peak. This launcher is static and small, so the figure is the plugin's own. */
#include <spawn.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  pid_t pid;
  char* args[] = {argv[1], NULL};
  if (posix_spawn(&pid, argv[1], NULL, NULL, args, environ) != 0) return 2;
  int status = 0;
  struct rusage usage;
  while (wait4(pid, &status, 0, &usage) < 0) {
  }
  dprintf(3, "%ld\n", usage.ru_maxrss);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
