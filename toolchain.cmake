# Cross build for aarch64 (Raspberry Pi 3/4/5/Zero 2 W, the emulated board)
# against Debian's arm64 multiarch libraries:
#   dpkg --add-architecture arm64 && apt-get install gcc-aarch64-linux-gnu \
#     libasound2-dev:arm64 libopus-dev:arm64 ...   (tools/install-deps does it)
#   cmake --preset aarch64 && cmake --build --preset aarch64
# Tests run under qemu-aarch64 (user-mode emulation) through
# CMAKE_CROSSCOMPILING_EMULATOR, so `ctest --preset aarch64` works on a PC.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(DR_TRIPLET aarch64-linux-gnu)

set(CMAKE_C_COMPILER ${DR_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${DR_TRIPLET}-g++)

# Debian multiarch: arm64 headers are in /usr/include (shared) and
# /usr/include/aarch64-linux-gnu, libraries in /usr/lib/aarch64-linux-gnu.
set(CMAKE_FIND_ROOT_PATH /usr/${DR_TRIPLET} /usr/lib/${DR_TRIPLET})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_LIBRARY_ARCHITECTURE ${DR_TRIPLET})

# pkg-config must see only the arm64 .pc files.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${DR_TRIPLET}/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

# -L / : the multiarch loader and libc (libc6:arm64) from the root, not the
# cross toolchain's older libc in /usr/aarch64-linux-gnu (mixing the two hangs
# pthread_create under qemu).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;/)
