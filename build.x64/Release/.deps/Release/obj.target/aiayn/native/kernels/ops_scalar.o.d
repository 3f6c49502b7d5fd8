cmd_Release/obj.target/aiayn/native/kernels/ops_scalar.o := g++ -o Release/obj.target/aiayn/native/kernels/ops_scalar.o ../native/kernels/ops_scalar.cc '-DNODE_GYP_MODULE_NAME=aiayn' '-DUSING_UV_SHARED=1' '-DUSING_V8_SHARED=1' '-DV8_DEPRECATION_WARNINGS=1' '-D_GLIBCXX_USE_CXX11_ABI=1' '-D_FILE_OFFSET_BITS=64' '-D_LARGEFILE_SOURCE' '-D__STDC_FORMAT_MACROS' '-DOPENSSL_NO_PINSHARED' '-DOPENSSL_THREADS' '-DNAPI_VERSION=8' '-DNODE_ADDON_API_DISABLE_DEPRECATED' '-DNAPI_CPP_EXCEPTIONS' '-DNODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS' '-DBUILDING_NODE_EXTENSION' -I/usr/include/node -I/usr/src -I/usr/deps/openssl/config -I/usr/deps/openssl/openssl/include -I/usr/deps/uv/include -I/usr/deps/zlib -I/usr/deps/v8/include -I../node_modules/node-addon-api  -fPIC -pthread -Wall -Wextra -Wno-unused-parameter -m64 -O3 -fno-omit-frame-pointer -fno-rtti -std=c++17 -O3 -fno-math-errno -fPIC -fvisibility=hidden -MMD -MF ./Release/.deps/Release/obj.target/aiayn/native/kernels/ops_scalar.o.d.raw   -c
Release/obj.target/aiayn/native/kernels/ops_scalar.o: \
 ../native/kernels/ops_scalar.cc ../native/kernels/ops_kernels.h \
 ../native/kernels/activation.h ../native/kernels/ops.h \
 ../native/kernels/dtype.h ../native/kernels/quant.h
../native/kernels/ops_scalar.cc:
../native/kernels/ops_kernels.h:
../native/kernels/activation.h:
../native/kernels/ops.h:
../native/kernels/dtype.h:
../native/kernels/quant.h:
