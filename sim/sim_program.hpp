#pragma once
// The extract-sim program: options, the generated batches, the HTTP server, and a clean
// exit on SIGTERM / SIGINT.

namespace extract::sim {

// Exit codes: 0 after a signal (or --help), 2 for bad flags, 1 when it cannot listen.
int run_sim(int argc, char** argv);

}  // namespace extract::sim
