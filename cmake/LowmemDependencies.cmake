# Every required dependency comes from Debian 12's packages (scripts/setup installs them).

find_package(spdlog REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(Qt6 REQUIRED COMPONENTS Widgets Charts Concurrent Svg Test)
find_package(GTest REQUIRED)
find_package(benchmark REQUIRED)
find_package(Threads REQUIRED)

# Debian's python3-torch is the only Python that can load our op library; another python3 may come first on PATH.
set(LOWMEM_PYTHON /usr/bin/python3 CACHE FILEPATH "Python with torch and torchvision (Debian's)")
