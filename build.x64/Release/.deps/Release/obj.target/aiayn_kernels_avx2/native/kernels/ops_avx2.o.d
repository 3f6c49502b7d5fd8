cmd_Release/obj.target/aiayn_kernels_avx2/native/kernels/ops_avx2.o := g++ -o Release/obj.target/aiayn_kernels_avx2/native/kernels/ops_avx2.o ../native/kernels/ops_avx2.cc '-DNODE_GYP_MODULE_NAME=aiayn_kernels_avx2' '-DUSING_UV_SHARED=1' '-DUSING_V8_SHARED=1' '-DV8_DEPRECATION_WARNINGS=1' '-D_GLIBCXX_USE_CXX11_ABI=1' '-D_FILE_OFFSET_BITS=64' '-D_LARGEFILE_SOURCE' '-D__STDC_FORMAT_MACROS' '-DOPENSSL_NO_PINSHARED' '-DOPENSSL_THREADS' -I/usr/include/node -I/usr/src -I/usr/deps/openssl/config -I/usr/deps/openssl/openssl/include -I/usr/deps/uv/include -I/usr/deps/zlib -I/usr/deps/v8/include  -fPIC -pthread -Wall -Wextra -Wno-unused-parameter -m64 -O3 -fno-omit-frame-pointer -fno-rtti -std=c++17 -O3 -fno-math-errno -fPIC -fvisibility=hidden -mavx2 -mfma -mf16c -MMD -MF ./Release/.deps/Release/obj.target/aiayn_kernels_avx2/native/kernels/ops_avx2.o.d.raw   -c
Release/obj.target/aiayn_kernels_avx2/native/kernels/ops_avx2.o: \
 ../native/kernels/ops_avx2.cc ../native/kernels/vecmath_avx2.h \
 ../native/kernels/activation.h ../native/kernels/vecmath.h \
 ../native/kernels/ops_impl.h ../native/kernels/ops_kernels.h \
 ../native/kernels/ops.h ../native/kernels/dtype.h
../native/kernels/ops_avx2.cc:
../native/kernels/vecmath_avx2.h:
../native/kernels/activation.h:
../native/kernels/vecmath.h:
../native/kernels/ops_impl.h:
../native/kernels/ops_kernels.h:
../native/kernels/ops.h:
../native/kernels/dtype.h:
