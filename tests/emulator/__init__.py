"""
The emulator probed over real HTTP with hand-built requests and assertions.
"""
