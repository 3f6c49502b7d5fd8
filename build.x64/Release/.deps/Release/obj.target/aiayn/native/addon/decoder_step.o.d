cmd_Release/obj.target/aiayn/native/addon/decoder_step.o := g++ -o Release/obj.target/aiayn/native/addon/decoder_step.o ../native/addon/decoder_step.cc '-DNODE_GYP_MODULE_NAME=aiayn' '-DUSING_UV_SHARED=1' '-DUSING_V8_SHARED=1' '-DV8_DEPRECATION_WARNINGS=1' '-D_GLIBCXX_USE_CXX11_ABI=1' '-D_FILE_OFFSET_BITS=64' '-D_LARGEFILE_SOURCE' '-D__STDC_FORMAT_MACROS' '-DOPENSSL_NO_PINSHARED' '-DOPENSSL_THREADS' '-DNAPI_VERSION=8' '-DNODE_ADDON_API_DISABLE_DEPRECATED' '-DNAPI_CPP_EXCEPTIONS' '-DNODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS' '-DBUILDING_NODE_EXTENSION' -I/usr/include/node -I/usr/src -I/usr/deps/openssl/config -I/usr/deps/openssl/openssl/include -I/usr/deps/uv/include -I/usr/deps/zlib -I/usr/deps/v8/include -I../node_modules/node-addon-api  -fPIC -pthread -Wall -Wextra -Wno-unused-parameter -m64 -O3 -fno-omit-frame-pointer -fno-rtti -std=c++17 -O3 -fno-math-errno -fPIC -fvisibility=hidden -MMD -MF ./Release/.deps/Release/obj.target/aiayn/native/addon/decoder_step.o.d.raw   -c
Release/obj.target/aiayn/native/addon/decoder_step.o: \
 ../native/addon/decoder_step.cc ../node_modules/node-addon-api/napi.h \
 /usr/include/node/node_api.h /usr/include/node/js_native_api.h \
 /usr/include/node/js_native_api_types.h \
 /usr/include/node/node_api_types.h \
 ../node_modules/node-addon-api/napi-inl.h \
 ../node_modules/node-addon-api/napi.h \
 ../native/addon/../kernels/decoder_step.h \
 ../native/addon/../kernels/activation.h \
 ../native/addon/../kernels/gemm.h ../native/addon/../kernels/cpu.h \
 ../native/addon/../kernels/dtype.h ../native/addon/../kernels/ops.h \
 ../native/addon/args.h ../native/addon/state.h
../native/addon/decoder_step.cc:
../node_modules/node-addon-api/napi.h:
/usr/include/node/node_api.h:
/usr/include/node/js_native_api.h:
/usr/include/node/js_native_api_types.h:
/usr/include/node/node_api_types.h:
../node_modules/node-addon-api/napi-inl.h:
../node_modules/node-addon-api/napi.h:
../native/addon/../kernels/decoder_step.h:
../native/addon/../kernels/activation.h:
../native/addon/../kernels/gemm.h:
../native/addon/../kernels/cpu.h:
../native/addon/../kernels/dtype.h:
../native/addon/../kernels/ops.h:
../native/addon/args.h:
../native/addon/state.h:
