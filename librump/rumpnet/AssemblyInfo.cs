// Stack buffers (headers being built, option scratch) are always written before they are read.
[module: System.Runtime.CompilerServices.SkipLocalsInit]
