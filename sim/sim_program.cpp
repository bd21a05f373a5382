#include "sim/sim_program.hpp"

#include <Poco/Exception.h>

#include <pthread.h>
#include <csignal>
#include <iostream>

#include "sim/http_server.hpp"
#include "sim/sim_options.hpp"

namespace extract::sim {

int run_sim(int argc, char** argv) {
    const auto parsed = parse_sim_options(std::vector<std::string>(argv + 1, argv + argc));
    if (!parsed.options) {
        std::cerr << "extract-sim: " << parsed.error << "\n(see extract-sim --help)\n";
        return 2;
    }
    const SimOptions& options = *parsed.options;
    if (options.help) {
        std::cout << sim_usage();
        return 0;
    }
    if (options.version) {
        std::cout << "extract-sim " << EXTRACT_VERSION << "\n";
        return 0;
    }

    // Before any thread starts: every thread inherits the mask, and only sigwait below sees
    // the signals. A client that hangs up mid-response must not kill the sim.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    SystemClock clock;
    StopSignal stop;
    BatchStore store(clock, options.store);
    store.generate(options.batches);
    SimService service(store, options.api_key, stop);
    std::unique_ptr<SimHttpServer> server;
    try {
        server = std::make_unique<SimHttpServer>(service, options.port, options.threads);
        server->start();
    } catch (const Poco::Exception& e) {
        std::cerr << "extract-sim: cannot listen on 127.0.0.1:" << options.port << ": " << e.displayText() << "\n";
        return 1;
    }
    std::cout << "listening on 127.0.0.1:" << server->port() << std::endl;

    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    stop.request_stop();  // wakes requests sleeping in a slow-response fault
    server->stop();
    return 0;
}

}  // namespace extract::sim
