cmd_Release/aiayn.node := ln -f "Release/obj.target/aiayn.node" "Release/aiayn.node" 2>/dev/null || (rm -rf "Release/aiayn.node" && cp -af "Release/obj.target/aiayn.node" "Release/aiayn.node")
