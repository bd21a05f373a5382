#include "daemon/daemon.hpp"

int main(int argc, char** argv) { return extract::daemon::run_syncd(argc, argv); }
