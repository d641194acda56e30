REM Greets the visitor and offers the most common topics.
greeting = GET BOT MEMORY "greeting"
TALK greeting
USE KB "handbook"
ADD TOOL "open-ticket"
ADD SUGGESTION "hours" AS "Opening hours"
ADD SUGGESTION "returns" AS "Returns"
