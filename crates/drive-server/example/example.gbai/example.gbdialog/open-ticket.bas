PARAM subject AS string DESCRIPTION "What the problem is about"
PARAM email AS email LIKE "ana@example.org" DESCRIPTION "Where to send the answer"
PARAM urgent AS boolean OPTIONAL DESCRIPTION "True when the customer cannot wait"
DESCRIPTION "Opens a support ticket for a question the handbook does not answer"

id = GUID()
SAVE "tickets", id, subject, email, urgent
TALK "Ticket " + id + " is open. We will write to " + email + "."
