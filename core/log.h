#pragma once
// One logger for the whole program, writing to stderr so that stdout stays the report (and --json stays
// clean).

namespace lowmem {

enum class Verbosity { kQuiet, kNormal, kVerbose };

void configureLogging(Verbosity verbosity);

}  // namespace lowmem
