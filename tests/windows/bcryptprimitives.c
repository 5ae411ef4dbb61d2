/* A stand-in for Windows' bcryptprimitives.dll, which Wine 8 (Debian 12's) lacks: Rust's
 * standard library (1.78 and later) imports ProcessPrng from it for random numbers. Real
 * Windows has it; tests/windows/run installs this one into its Wine prefix only. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length); /* RtlGenRandom, advapi32 */

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
